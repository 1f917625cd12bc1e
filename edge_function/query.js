
// `location` with the viewer's query string after the target's own (CloudFront Functions hand it over
// parsed, each value as the viewer sent it): the router's redirects and the host redirect's.
// edge_function/code.py appends this file to the router, host_redirect.py to the redirect alone.
function withQuery(location, querystring) {
  const parts = [];
  for (const name in querystring) {
    const entry = querystring[name];
    const values = entry.multiValue || [entry];
    for (let i = 0; i < values.length; i++) {
      parts.push(name + '=' + values[i].value);
    }
  }
  return parts.length ? location + (location.indexOf('?') === -1 ? '?' : '&') + parts.join('&') : location;
}
