import cf from 'cloudfront';

// Viewer-request router (runtime cloudfront-js-2.0): the same refusals and rewrite as the Lambda@Edge
// origin-request handler (edge_lambda/handler.py; both are run against tests/fixtures/edge_rules.json),
// but before the cache lookup, so the live version is part of the cache key: a release or a rollback
// needs no invalidation. The live version comes from the function's KeyValueStore, never from SSM.
// CloudFront Functions allow 10 KB of code, no network and no other modules: keep it small and plain.
// edge_function/code.py fills in the store's id and the routing settings below when the function is deployed.

const kvs = cf.kvs('__KEY_VALUE_STORE_ID__');
const SPA_FALLBACK = '__SPA_FALLBACK__' === 'true';
// edge_lambda/routes.py RouteSettings: `auto`, `always` or `never`; 308 or 301.
const TRAILING_SLASH = '__TRAILING_SLASH__';
const REDIRECT_STATUS = Number('__REDIRECT_STATUS__');
const LIVE_VERSION_KEY = 'live-version';
const NO_VERSION_RELEASED = 'none';
const INDEX_DOCUMENT = 'index.html';
// S3 keys are at most 1,024 bytes, and the rewrite adds `/<version>` (up to 58) and `/index.html`.
const MAX_URI_BYTES = 900;
// Generated responses are never cached at viewer-request; a retry after a KVS update sees the new value
// within seconds.
const RETRY_AFTER_SECONDS = '5';
// The shared asset area (edge_lambda/layout.py SHARED_ASSET_PREFIX): every complete version's fingerprinted
// files, published by the uploader. This router serves fingerprinted paths from there (see isSharedByName).
const SHARED_ASSET_PREFIX = '/_assets';

// Refused raw and after one percent-decoding (S3 decodes the key once), as edge_lambda/handler.py does:
// C0 and C1 control characters and DEL, U+2028/U+2029 (newlines to JavaScript and some log parsers).
const UNSAFE_CHARACTER = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
// A UTF-16 surrogate without its other half: no UTF-8 form (S3 keys are UTF-8), yet JSON can carry one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?:^|[^\ud800-\udbff])[\udc00-\udfff]/;
// S3 decodes the key once: an encoded '/', '\' or '.' would become a separator or dot segment there.
const ENCODED_SEPARATOR = /%(?:2[ef]|5c)/i;
const MALFORMED_ESCAPE = /%(?![0-9a-fA-F]{2})/;
// edge_lambda/layout.py VERSION_FORMAT: YYYYMMDDTHHMMSSZ[-<git sha, 7-40 lowercase hex>], a real UTC time.
const VERSION = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-[0-9a-f]{7,40})?$/;

// The UTF-8 bytes of `uri` with each %XX decoded once (escapes already checked well-formed).
function decodedBytes(uri) {
  const bytes = [];
  for (let i = 0; i < uri.length; i++) {
    let unit = uri.charCodeAt(i);
    if (unit === 0x25) {
      bytes.push(parseInt(uri.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (unit < 0x80) {
      bytes.push(unit);
    } else if (unit < 0x800) {
      bytes.push(0xc0 | (unit >> 6), 0x80 | (unit & 63));
    } else if (unit >= 0xd800 && unit < 0xdc00) {
      // a surrogate pair (lone ones were refused before): one code point above U+FFFF
      unit = 0x10000 + ((unit - 0xd800) << 10) + (uri.charCodeAt(++i) - 0xdc00);
      bytes.push(0xf0 | (unit >> 18), 0x80 | ((unit >> 12) & 63), 0x80 | ((unit >> 6) & 63), 0x80 | (unit & 63));
    } else {
      bytes.push(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 63), 0x80 | (unit & 63));
    }
  }
  return bytes;
}

const NOT_UTF8 = 'the path contains percent-escapes that are not UTF-8';

// Why the once-decoded `uri` is unsafe, or null. Strict UTF-8 as Python's decoder (and S3) reads it:
// no overlong forms (%C0%AE is not '.'), no encoded surrogates, nothing above U+10FFFF, no truncation.
// Hand-written rather than decodeURIComponent, so that no runtime's leniency can differ from the handler.
function decodedProblem(uri) {
  const bytes = decodedBytes(uri);
  // Not UTF-8 anywhere wins over an unsafe character earlier in the path, as in the handler.
  let unsafe = false;
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i];
    let more = 0;
    let point = lead;
    let least = 0;
    if (lead >= 0xc2 && lead < 0xe0) {
      more = 1;
      point = lead & 31;
      least = 0x80;
    } else if (lead >= 0xe0 && lead < 0xf0) {
      more = 2;
      point = lead & 15;
      least = 0x800;
    } else if (lead >= 0xf0 && lead < 0xf5) {
      more = 3;
      point = lead & 7;
      least = 0x10000;
    } else if (lead >= 0x80) {
      return NOT_UTF8;
    }
    for (let j = 1; j <= more; j++) {
      const next = bytes[i + j];
      if (next === undefined || (next & 0xc0) !== 0x80) {
        return NOT_UTF8;
      }
      point = (point << 6) | (next & 63);
    }
    if (point < least || point > 0x10ffff || (point >= 0xd800 && point < 0xe000)) {
      return NOT_UTF8;
    }
    unsafe = unsafe || point < 0x20 || (point >= 0x7f && point < 0xa0) || point === 0x2028 || point === 0x2029;
    i += more + 1;
  }
  return unsafe ? 'the path contains a percent-encoded control character or U+2028/U+2029' : null;
}

// The UTF-8 length of `text` (no lone surrogate: refused before): each byte encodeURIComponent escapes
// is one %XX, each it leaves is one character.
function utf8Length(text) {
  return encodeURIComponent(text).replace(/%../g, '.').length;
}

function uriProblem(uri) {
  if (UNSAFE_CHARACTER.test(uri) || LONE_SURROGATE.test(uri)) {
    return 'the path contains a control character, U+2028/U+2029 or a lone surrogate';
  }
  if (utf8Length(uri) > MAX_URI_BYTES) {
    return `the path is longer than ${MAX_URI_BYTES} bytes`;
  }
  if (uri.charAt(0) !== '/') {
    return "the path must start with '/'";
  }
  if (uri.indexOf('\\') !== -1) {
    return 'the path contains a backslash';
  }
  if (ENCODED_SEPARATOR.test(uri)) {
    return "the path contains a percent-encoded '/', '\\' or '.'";
  }
  if (MALFORMED_ESCAPE.test(uri)) {
    return 'the path contains a malformed percent-escape';
  }
  const decoded = decodedProblem(uri);
  if (decoded !== null) {
    return decoded;
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

// edge_lambda/fingerprint.py is_shared_by_name, rule for rule: a name with a bundler's hash shape (any
// bundler's default pattern), other than HTML. The live version's routes list its exceptions (`n`, `a`).
const IMMUTABLE_FOLDERS = ['_next/static/', '_astro/', '_app/immutable/'];
const HASH_SHAPE = /^(?:[A-Za-z0-9_-]{8}|[0-9a-f]{8,64})$/;

function isSharedByName(uri) {
  const path = uri.replace(/^\/+/, '');
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (name === '' || /\.html?$/i.test(uri)) {
    return false;
  }
  for (let i = 0; i < IMMUTABLE_FOLDERS.length; i++) {
    if (path.indexOf(IMMUTABLE_FOLDERS[i]) === 0) {
      return true;
    }
  }
  if (/^[0-9a-f]{16,64}$/.test(name.split('.')[0])) {
    return true;
  }
  for (let s = 1; s < name.length; s++) {
    if (name.charAt(s) !== '.' && name.charAt(s) !== '-') {
      continue;
    }
    for (let e = s + 2; e < name.length; e++) {
      if (name.charAt(e) === '.' && HASH_SHAPE.test(name.slice(s + 1, e))) {
        return true;
      }
    }
  }
  return false;
}

// edge_lambda/routes.py VersionRoutes.kinds: the kind of `/path` then of `/path/` (f the file, h path.html,
// d path/index.html, s the root index.html), from the version's exceptions, else its majority style `s`.
function kinds(routes, path) {
  if (Object.prototype.hasOwnProperty.call(routes.x, path)) {
    return routes.x[path];
  }
  const ext = path.slice(path.lastIndexOf('/') + 1).replace(/^\.+/, '').indexOf('.') !== -1;
  return (ext ? 'f' : routes.s) + (routes.s === 's' ? 'd' : routes.s);
}

// edge_lambda/routes.py route: the version-relative key path that answers `uri`, or {location} to redirect;
// `internal`: a 200 or 404 rule's target, never redirected (edge_function/viewer_request.py rule_target).
function route(uri, routes, internal) {
  if (uri === '/') {
    return '/' + INDEX_DOCUMENT;
  }
  const slash = uri.charAt(uri.length - 1) === '/';
  const bare = slash ? uri.slice(0, -1) : uri;
  const k = kinds(routes, decodeURIComponent(bare.slice(1)));
  if (slash) {
    if (TRAILING_SLASH === 'never' && k.charAt(0) !== 'f' && !internal) {
      return { location: bare };
    }
    return k.charAt(1) === 'd' ? uri + INDEX_DOCUMENT : bare + '.html';
  }
  const kind = k.charAt(0);
  if (kind === 'f') {
    return uri;
  }
  if (kind === 's') {
    return '/' + INDEX_DOCUMENT;
  }
  if (kind === 'h') {
    return TRAILING_SLASH === 'always' && !internal ? { location: uri + '/' } : uri + '.html';
  }
  return TRAILING_SLASH === 'never' || internal ? uri + '/' + INDEX_DOCUMENT : { location: uri + '/' };
}

// The store's value: `<version>`, or `<version> <routes JSON>` (edge_function/code.py store_value), whose
// JSON may carry a canary, `"c":{"v":<version>,"p":<percent>,"r":<its routes>}`.
function summaryOf(value) {
  try {
    const data = JSON.parse(value);
    return typeof data === 'object' && data !== null ? data : {};
  } catch (error) {
    // a value without routes, or not ours: route as without the version's file list
    return {};
  }
}

function routesOf(routes) {
  const n = routes.n || [];
  const a = routes.a || [];
  if (typeof routes.s === 'string' && typeof routes.x === 'object' && routes.x !== null && Array.isArray(n) && Array.isArray(a)) {
    return { s: routes.s, x: routes.x, n: n, a: a, k: routes.k };
  }
  return { s: SPA_FALLBACK ? 's' : 'd', x: {}, n: [], a: [] };
}

const STATUS_TEXT = { 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 307: 'Temporary Redirect', 308: 'Permanent Redirect' };

function redirect(location, querystring, status) {
  return respond(status, STATUS_TEXT[status], '', {
    location: { value: withQuery(location, querystring) },
    'cache-control': { value: 'max-age=300' },
  });
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
  let value;
  try {
    value = await kvs.get(LIVE_VERSION_KEY);
  } catch (error) {
    // get() rejects when the key does not exist; there is no earlier value to fall back on.
    return unavailable('the live version is unavailable');
  }
  const space = value.indexOf(' ');
  let version = space === -1 ? value : value.slice(0, space);
  if (version === NO_VERSION_RELEASED) {
    return unavailable('no version released');
  }
  if (!isVersion(version)) {
    return unavailable('the live version is unavailable');
  }
  const uri = request.uri;
  const summary = summaryOf(space === -1 ? '' : value.slice(space + 1));
  let routes = routesOf(summary);
  // A canary (docs/routers.md, "Canary releases"): the viewers whose bucket is below its share, and
  // those who ask for it, get its version, with its own routes. Both versions are in the cache key.
  const canary = summary.c;
  if (typeof canary === 'object' && canary !== null && typeof canary.v === 'string' && isVersion(canary.v) && typeof canary.p === 'number') {
    const bucket = cookieBucket(request);
    if ((bucket === null ? hashBucket(event) : bucket) < canary.p) {
      version = canary.v;
      routes = routesOf(typeof canary.r === 'object' && canary.r !== null ? canary.r : {});
    }
  }
  // The build's _redirects first (docs/rules.md, "Redirects and headers of the build"): one read
  // more, only for a version with rules (`k` keys): the key its first two segments hash to
  // (rule_keys.bucket). A key never written: routed as without rules, as Lambda@Edge does when it cannot
  // read a manifest.
  const path = decodeURIComponent(uri.slice(1));
  // Skew protection before the cache: a fingerprinted file has the same bytes in every version that names
  // it, so it comes from the shared area, where a page of an earlier (or, after a rollback, later) version
  // still finds the chunks it names. The fallback origin cannot do it here as with Lambda@Edge: it would
  // get /<version>/... and an origin path can only prefix that. HTML and unhashed files: live version only.
  // Such a file answers its path: a build rule not forced passes it over (`/* /index.html 200` too).
  const shared =
    uri.charAt(uri.length - 1) !== '/' &&
    (routes.a.indexOf(path) !== -1 || (isSharedByName(uri) && routes.n.indexOf(path) === -1));
  if (routes.k) {
    // The viewer's path, for the viewer-response function's header rules (viewer_response.js).
    request.headers['x-site-path'] = { value: uri };
    const found = await kvs
      .get('r/' + version + '/' + hash31(/^[^/]*(\/[^/]+)?/.exec(path)[0], routes.k))
      .then((data) => ruleFor(JSON.parse(data), path, shared), () => null);
    if (found && found.s > 300 && found.s < 400) {
      return redirect(found.to, request.querystring, found.s);
    }
    if (found) {
      // a 200 or 404 rule's target, served as clean URLs resolve it
      request.uri = '/' + version + route(found.to.split('?')[0], routes, true);
      return request;
    }
  }
  if (shared) {
    request.uri = SHARED_ASSET_PREFIX + uri;
    return request;
  }
  const target = route(uri, routes);
  if (typeof target !== 'string') {
    return redirect(target.location, request.querystring, REDIRECT_STATUS);
  }
  request.uri = '/' + version + target;
  return request;
}
