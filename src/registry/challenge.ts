// WWW-Authenticate parsing (RFC 7235): one or more challenges, each a scheme
// followed by comma-separated auth-params, values bare or quoted.

export interface Challenge {
  /** Lower-cased: "bearer", "basic". */
  scheme: string;
  params: Record<string, string>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : header ?? '';
  const out: Challenge[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = (): void => {
    while (i < n && /[\s,]/.test(text[i])) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(text[i])) i++;
    return text.slice(start, i);
  };
  while (i < n) {
    skipWs();
    const scheme = token();
    if (!scheme) {
      i++;
      continue;
    }
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      while (i < n && /[\s,]/.test(text[i])) i++;
      const save = i;
      const key = token();
      while (i < n && text[i] === ' ') i++;
      if (!key || text[i] !== '=') {
        // Not a param: the next challenge's scheme (or token68, which we ignore).
        i = key ? save : i;
        break;
      }
      i++; // '='
      while (i < n && text[i] === ' ') i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          value += text[i++];
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < n && text[i] !== ',' && !/\s/.test(text[i])) i++;
        value = text.slice(start, i);
      }
      ch.params[key.toLowerCase()] = value;
    }
  }
  return out;
}
