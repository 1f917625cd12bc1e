// Viewer-response function (runtime cloudfront-js-2.0): the one function at this event of the default
// behavior (CloudFront allows one per event type), shared by everything that changes answers on their way
// to the viewer: the canary's bucket cookie (below) and the build's header rules (issue 28, `headerRules`).
// CloudFront runs it on answers from the cache or the origin with a status below 400, never on answers of
// 400 and above (so not on the 404 page), nor on those the viewer-request function generated (redirects,
// 400, 405, 503): docs/architecture.md, "The viewer-response function". It cannot change the body.
// edge_function/code.py fills in the settings below when the function is deployed.

// Whether a canary is configured: the bucket cookie is set only then.
const SET_SPLIT_COOKIE = '__SET_SPLIT_COOKIE__' === 'true';
// A year: a viewer keeps its bucket across canaries; Lax, so a link from elsewhere carries it.
const SPLIT_COOKIE_ATTRIBUTES = 'Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=Lax';

// The build's header rules (issue 28) add or change `response.headers` here, from `request.uri`.
function headerRules(request, response) {
  return response;
}

function handler(event) {
  const response = headerRules(event.request, event.response);
  if (SET_SPLIT_COOKIE && cookieBucket(event.request) === null) {
    response.cookies = response.cookies || {};
    response.cookies[SPLIT_COOKIE] = { value: String(hashBucket(event)), attributes: SPLIT_COOKIE_ATTRIBUTES };
  }
  return response;
}
