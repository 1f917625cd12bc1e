// Runs the CloudFront Function under Node for tests/test_edge_rules.py (one process for the whole session)
// and for `make demo --router cloudfront-function` (scripts/demo/node_function.py).
//
// argv: name=path pairs, each path holding the function's code exactly as edge_function/code.py renders it
// for deployment. Two things stand in for CloudFront's runtime, and nothing else differs:
// - the `cloudfront` module, which only exists there, is a stub (a module resolve hook maps the import to
//   it) whose kvs(id).get(key) answers from the store the test sends and rejects a missing key, as
//   CloudFront's does;
// - one line, `export { handler };`, is appended so that the test can call the top-level handler (CloudFront
//   finds it by name).
// stdin: one JSON object a line, {"function": name, "store": {key: value}, "event": {...}};
// stdout: first {"opened": [the ids passed to cf.kvs()]}, then one {"result": ..., "reads": n} or
// {"error": ...} a line (`reads`: the store reads, kvs().get() calls, the event made).
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const dataUrl = (source) => 'data:text/javascript,' + encodeURIComponent(source);

const stub = `
const state = globalThis.cloudfrontStub;
export default {
  kvs(id) {
    state.opened.push(id);
    return {
      async get(key, options) {
        state.reads++;
        if (options !== undefined && options.format !== 'string') {
          throw new Error('the stub serves the string format only');
        }
        if (!Object.prototype.hasOwnProperty.call(state.store, key)) {
          throw new Error('key not found: ' + key);
        }
        return state.store[key];
      },
    };
  },
};
`;

register(
  dataUrl(`
export async function resolve(specifier, context, next) {
  if (specifier === 'cloudfront') {
    return { url: ${JSON.stringify(dataUrl(stub))}, shortCircuit: true };
  }
  return next(specifier, context);
}
`),
);

globalThis.cloudfrontStub = { opened: [], store: {}, reads: 0 };
const handlers = {};
for (const argument of process.argv.slice(2)) {
  const [name, path] = argument.split(/=(.*)/s);
  const code = readFileSync(path, 'utf8') + '\nexport { handler };\n';
  handlers[name] = (await import(dataUrl(code))).handler;
}
process.stdout.write(JSON.stringify({ opened: globalThis.cloudfrontStub.opened }) + '\n');

for await (const line of createInterface({ input: process.stdin })) {
  const message = JSON.parse(line);
  globalThis.cloudfrontStub.store = message.store;
  globalThis.cloudfrontStub.reads = 0;
  let answer;
  try {
    answer = { result: await handlers[message.function](message.event), reads: globalThis.cloudfrontStub.reads };
  } catch (error) {
    answer = { error: String(error && error.stack ? error.stack : error) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
