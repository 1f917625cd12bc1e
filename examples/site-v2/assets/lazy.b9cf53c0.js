// A lazily loaded chunk of version two, as bundlers split off a route: the page imports it only
// when it is first needed, which may be long after the page loaded, and after a release.
export const version = "two";

export function describe() {
  return "lazily loaded part of version two";
}
