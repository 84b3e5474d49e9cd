/** A minimal XML parser for tests: elements, attributes, text, the five named entities and numeric references. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);/gi, (_m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[e];
  });
}

/** Parses a document; throws on anything not well formed (unclosed tags, bare `&` or `<`, bad attributes). */
export function parseXml(text: string): XmlElement {
  let i = 0;
  const fail = (msg: string): never => { throw new Error(`${msg} at ${i}: ${JSON.stringify(text.slice(i, i + 40))}`); };
  const skipWs = (): void => { while (/\s/.test(text[i] ?? '')) i++; };
  if (text.startsWith('<?xml')) { i = text.indexOf('?>') + 2; }
  const element = (): XmlElement => {
    if (text[i] !== '<') fail('expected <');
    i++;
    const name = /^[A-Za-z_][\w.-]*/.exec(text.slice(i))?.[0] ?? fail('bad tag name');
    i += name.length;
    const el: XmlElement = { name, attrs: {}, children: [], text: '' };
    for (;;) {
      skipWs();
      if (text.startsWith('/>', i)) { i += 2; return el; }
      if (text[i] === '>') { i++; break; }
      const an = /^[A-Za-z_][\w.:-]*/.exec(text.slice(i))?.[0] ?? fail('bad attribute name');
      i += an.length;
      if (text[i] !== '=' || text[i + 1] !== '"') fail('expected ="');
      const end = text.indexOf('"', i + 2);
      const raw = text.slice(i + 2, end);
      if (/[<]|&(?!(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);)/i.test(raw)) fail('unescaped attribute value');
      if (an in el.attrs) fail('duplicate attribute');
      el.attrs[an] = decode(raw);
      i = end + 1;
    }
    for (;;) {
      const lt = text.indexOf('<', i);
      if (lt < 0) fail('unclosed element ' + name);
      const chunk = text.slice(i, lt);
      if (/&(?!(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);)/i.test(chunk)) fail('unescaped &');
      el.text += decode(chunk);
      i = lt;
      if (text.startsWith('</', i)) {
        const close = `</${name}>`;
        if (!text.startsWith(close, i)) fail(`expected ${close}`);
        i += close.length;
        return el;
      }
      el.children.push(element());
    }
  };
  skipWs();
  const root = element();
  skipWs();
  if (i !== text.length) fail('content after the root element');
  return root;
}

/** All descendants named `name`. */
export function findAll(el: XmlElement, name: string): XmlElement[] {
  return [...(el.name === name ? [el] : []), ...el.children.flatMap((c) => findAll(c, name))];
}
