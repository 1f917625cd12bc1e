// Host redirects: a request for one of the site's names answered with 301 to another of its names
// (apex <-> www, components/domain.py). At viewer request, before the cache: the cache key carries no
// Host, so a redirect cached for one name would be served to the other. edge_function/host_redirect.py
// fills in the table ({"www.example.com": "example.com"}), alone or in front of the router.
const HOST_REDIRECTS = __HOST_REDIRECTS__;

function hostRedirect(request) {
  const header = request.headers.host;
  // A Host with a port (example.com:443) names the same site.
  const host = header ? header.value.toLowerCase().split(':')[0] : '';
  if (!Object.prototype.hasOwnProperty.call(HOST_REDIRECTS, host)) {
    return null;
  }
  const target = 'https://' + HOST_REDIRECTS[host] + request.uri;
  return {
    statusCode: 301,
    statusDescription: 'Moved Permanently',
    headers: {
      location: { value: withQuery(target, request.querystring) },
      'cache-control': { value: 'max-age=3600' },
    },
  };
}
