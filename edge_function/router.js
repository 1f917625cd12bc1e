import cf from 'cloudfront';

// Viewer-request router (runtime cloudfront-js-2.0): the same refusals and rewrite as the Lambda@Edge
// origin-request handler (edge_lambda/handler.py; both are run against tests/fixtures/edge_rules.json),
// but before the cache lookup, so the live version is part of the cache key: a release or a rollback
// needs no invalidation. The live version comes from the function's KeyValueStore, never from SSM.
// CloudFront Functions allow 10 KB of code, no network and no other modules: keep it small and plain.
// edge_function/code.py fills in the store's id and the SPA setting below when the function is deployed.

const kvs = cf.kvs('__KEY_VALUE_STORE_ID__');
const SPA_FALLBACK = '__SPA_FALLBACK__' === 'true';
const LIVE_VERSION_KEY = 'live-version';
const NO_VERSION_RELEASED = 'none';
const INDEX_DOCUMENT = 'index.html';
// S3 keys are at most 1,024 bytes, and the rewrite adds `/<version>` (up to 58) and `/index.html`.
const MAX_URI_BYTES = 900;
// Generated responses are never cached at viewer-request; a retry after a KVS update sees the new value
// within seconds.
const RETRY_AFTER_SECONDS = '5';

const CONTROL_CHARACTER = /[\x00-\x1f\x7f]/;
// S3 decodes the key once: an encoded '/', '\' or '.' would become a separator or dot segment there.
const ENCODED_UNSAFE = /%(?:2[ef]|5c|[01][0-9a-f]|7f)/i;
const MALFORMED_ESCAPE = /%(?![0-9a-fA-F]{2})/;
// edge_lambda/layout.py VERSION_FORMAT: YYYYMMDDTHHMMSSZ[-<git sha, 7-40 lowercase hex>], a real UTC time.
const VERSION = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-[0-9a-f]{7,40})?$/;

function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) {
      bytes += 1;
    } else if (unit < 0x800) {
      bytes += 2;
    } else if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < text.length) {
      bytes += 4; // a surrogate pair: one code point beyond the Basic Multilingual Plane
      i++;
    } else {
      bytes += 3;
    }
  }
  return bytes;
}

function uriProblem(uri) {
  if (utf8Length(uri) > MAX_URI_BYTES) {
    return `the path is longer than ${MAX_URI_BYTES} bytes`;
  }
  if (uri.charAt(0) !== '/') {
    return "the path must start with '/'";
  }
  if (CONTROL_CHARACTER.test(uri)) {
    return 'the path contains a control character';
  }
  if (uri.indexOf('\\') !== -1) {
    return 'the path contains a backslash';
  }
  if (ENCODED_UNSAFE.test(uri)) {
    return "the path contains a percent-encoded '/', '\\', '.' or control character";
  }
  if (MALFORMED_ESCAPE.test(uri)) {
    return 'the path contains a malformed percent-escape';
  }
  const segments = uri.slice(1).split('/');
  // The last segment is empty for a path ending in '/', which serves that folder's index.html.
  if (segments.slice(0, -1).indexOf('') !== -1) {
    return "the path contains an empty segment ('//')";
  }
  if (segments.indexOf('.') !== -1 || segments.indexOf('..') !== -1) {
    return "the path contains a '.' or '..' segment";
  }
  return null;
}

function rewriteUri(uri, version) {
  const prefix = '/' + version;
  if (uri.charAt(uri.length - 1) === '/') {
    return prefix + uri + INDEX_DOCUMENT;
  }
  const lastSegment = uri.slice(uri.lastIndexOf('/') + 1);
  if (lastSegment.replace(/^\.+/, '').indexOf('.') !== -1) {
    return prefix + uri;
  }
  if (SPA_FALLBACK) {
    return `${prefix}/${INDEX_DOCUMENT}`;
  }
  return `${prefix}${uri}/${INDEX_DOCUMENT}`;
}

function isVersion(value) {
  const parts = VERSION.exec(value);
  if (parts === null) {
    return false;
  }
  const year = Number(parts[1]);
  const day = Number(parts[3]);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  // undefined (and so false below) for a month outside 01-12
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][Number(parts[2]) - 1];
  return year >= 1 && day >= 1 && day <= days && parts[4] < '24' && parts[5] < '60' && parts[6] < '60';
}

function respond(statusCode, statusDescription, body, headers) {
  headers['content-type'] = { value: 'text/plain; charset=utf-8' };
  return {
    statusCode: statusCode,
    statusDescription: statusDescription,
    headers: headers,
    body: { encoding: 'text', data: body },
  };
}

function unavailable(reason) {
  return respond(503, 'Service Unavailable', `Service Unavailable: ${reason}\n`, {
    'retry-after': { value: RETRY_AFTER_SECONDS },
    'cache-control': { value: 'no-store' },
  });
}

async function handler(event) {
  const request = event.request;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return respond(405, 'Method Not Allowed', 'Method Not Allowed\n', { allow: { value: 'GET, HEAD' } });
  }
  const problem = uriProblem(request.uri);
  if (problem !== null) {
    return respond(400, 'Bad Request', `Bad Request: ${problem}\n`, {});
  }
  let version;
  try {
    version = await kvs.get(LIVE_VERSION_KEY);
  } catch (error) {
    // get() rejects when the key does not exist; there is no earlier value to fall back on.
    return unavailable('the live version is unavailable');
  }
  if (version === NO_VERSION_RELEASED) {
    return unavailable('no version released');
  }
  if (!isVersion(version)) {
    return unavailable('the live version is unavailable');
  }
  request.uri = rewriteUri(request.uri, version);
  return request;
}
