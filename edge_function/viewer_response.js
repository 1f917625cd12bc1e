// Viewer-response function (runtime cloudfront-js-2.0): the one function at this event of the default
// behavior (CloudFront allows one per event type), shared by everything that changes answers on their way
// to the viewer: the canary's bucket cookie (below) and the build's header rules (issue 28, `headerRules`).
// CloudFront runs it on answers from the cache or the origin with a status below 400, never on answers of
// 400 and above (so not on the 404 page), nor on those the viewer-request function generated (redirects,
// 400, 405, 503): docs/routers.md, "The viewer-response function". It cannot change the body.
// edge_function/code.py fills in the settings below when the function is deployed.

import cf from 'cloudfront';

// The router's KeyValueStore (a store may serve several functions): the live version, its build rules.
const kvs = cf.kvs('__KEY_VALUE_STORE_ID__');
// Whether a canary is configured: the bucket cookie is set only then.
const SET_SPLIT_COOKIE = '__SET_SPLIT_COOKIE__' === 'true';
// A year: a viewer keeps its bucket across canaries; Lax, so a link from elsewhere carries it.
const SPLIT_COOKIE_ATTRIBUTES = 'Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=Lax';

// The build's _headers (docs/rules.md, "Redirects and headers of the build"): the headers of every
// block matching the viewer's path, one name's values joined with ', ' (site_rules.headers_for), from the
// same keys as the router's redirects (build_rules.js). Reads: the live-version value (the version, its
// canary, its rule keys' count `k`), then, for a version with rules, the one key of the path. The path is
// the router's `x-site-path` when the request carries it (AWS does not say whether this event's
// request is the one the viewer-request function returned), else the request's own. Any failure: the
// answer as the origin gave it.
async function headerRules(event, response) {
  try {
    const request = event.request;
    const value = await kvs.get('live-version');
    const space = value.indexOf(' ');
    const summary = JSON.parse(value.slice(space + 1));
    let version = value.slice(0, space);
    let count = summary.k;
    const canary = summary.c;
    if (canary && typeof canary.v === 'string' && typeof canary.p === 'number') {
      const bucket = cookieBucket(request);
      if ((bucket === null ? hashBucket(event) : bucket) < canary.p) {
        version = canary.v;
        count = canary.r && canary.r.k;
      }
    }
    if (!count) {
      return response;
    }
    const marked = request.headers['x-site-path'];
    const path = decodeURIComponent((marked ? marked.value : request.uri).slice(1));
    const key = 'r/' + version + '/' + hash31(/^[^/]*(\/[^/]+)?/.exec(path)[0], count);
    const blocks = JSON.parse(await kvs.get(key)).h;
    const merged = {};
    for (let i = 0; i < blocks.length; i++) {
      if (ruleMatch(blocks[i][0], path) !== null) {
        const pairs = blocks[i][1];
        for (let j = 0; j < pairs.length; j += 2) {
          const name = pairs[j].toLowerCase();
          merged[name] = merged[name] === undefined ? pairs[j + 1] : merged[name] + ', ' + pairs[j + 1];
        }
      }
    }
    for (const name in merged) {
      response.headers[name] = { value: merged[name] };
    }
  } catch (error) {
    // no value, no key, or not ours: nothing to add
  }
  return response;
}

async function handler(event) {
  const response = await headerRules(event, event.response);
  if (SET_SPLIT_COOKIE && cookieBucket(event.request) === null) {
    response.cookies = response.cookies || {};
    response.cookies[SPLIT_COOKIE] = { value: String(hashBucket(event)), attributes: SPLIT_COOKIE_ATTRIBUTES };
  }
  return response;
}
