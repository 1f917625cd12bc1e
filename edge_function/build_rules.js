
// The build's _redirects (edge_lambda/site_rules.py) as the KeyValueStore holds them for this router
// (edge_function/rule_keys.py): key r/<version>/<n>, n = hash31(first two segments, k) (rule_keys.bucket), {"r": [[regex, target, status], ...],
// "f": [...]}: in file order, the rules a path whose first two segments hash there can match (`regex` over
// the decoded path without its leading '/', or for a rule without captures that path itself, trailing
// '/' left out: a string compare instead of a RegExp built per rule and request; `target` pieces, a
// number is a capture group; `status` negative when forced with `!`), and "f" the paths files answer
// among those a rule not forced matches; "h": [[matcher, [name, value, ...]], ...], the _headers blocks,
// which viewer_response.js applies).
// edge_function/code.py appends this file.

// The first rule of the key's value `data` that answers the decoded relative path `rel`, as {s, to}
// (status, target with each capture percent-encoded as site_rules._fill does: RFC 3986 sub-delims, ':',
// '@' and '/' kept), or null: site_rules.SiteRules.redirect_for.
// A rule's (or header block's) matcher against the decoded relative path `rel`: the match, or null.
function ruleMatch(matcher, rel) {
  return matcher[0] === '^' ? new RegExp(matcher).exec(rel) : matcher === rel.replace(/\/$/, '') ? [] : null;
}

// Short names: CloudFront counts every byte of the router's code (docs/routers.md, "The function's
// code and its tests"). d: the key's value, s: the shared area serves `rel` (a file answers it, as those
// of d.f), r: a rule, m: its match, p: a piece of its target.
function ruleFor(d, rel, s) {
  for (let i = 0; i < d.r.length; i++) {
    const r = d.r[i];
    const m = ruleMatch(r[0], rel);
    if (m !== null && (r[2] < 0 || (!s && d.f.indexOf(rel) < 0))) {
      const to = r[1].map((p) =>
        typeof p === 'number' ? encodeURIComponent(m[p] || '').replace(/%(2[46BCF]|3[ABD]|40)/g, decodeURIComponent) : p,
      );
      return { s: Math.abs(r[2]), to: to.join('') };
    }
  }
  return null;
}
