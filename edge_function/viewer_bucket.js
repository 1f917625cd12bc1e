
// The viewer's bucket (0-99), shared by router.js and viewer_response.js (edge_function/code.py appends
// this file to both, so the two cannot disagree): the canary serves viewers whose bucket is below its
// percentage. The cookie holds it once the viewer-response function has set it; until then (and where
// CloudFront runs no viewer-response function: answers of 400 and above, generated ones) it is a hash of
// the viewer's IP address and User-Agent, which both events carry, so a new viewer already gets the same
// version on every request. `canary` asks for the canary explicitly (sitectl verify, testers): -1.
const SPLIT_COOKIE = 'site-bucket';
const BUCKET = /^(?:[0-9]|[1-9][0-9])$/;

function cookieBucket(request) {
  const cookie = request.cookies ? request.cookies[SPLIT_COOKIE] : undefined;
  const value = cookie ? cookie.value : '';
  return BUCKET.test(value) ? Number(value) : value === 'canary' ? -1 : null;
}

function hashBucket(event) {
  const agent = event.request.headers['user-agent'];
  const text = event.viewer.ip + ' ' + (agent ? agent.value : '');
  return hash31(text, 1000003) % 100;
}

// `text`'s UTF-16 code units as a base-31 number modulo `modulus` (viewer_bucket.py, rule_keys.bucket).
function hash31(text, modulus) {
  let hash = 0;
  for (let i = 0; i < text.length; i++) {
    hash = (hash * 31 + text.charCodeAt(i)) % modulus;
  }
  return hash;
}
