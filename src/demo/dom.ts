// A few DOM helpers for the demo page: no framework, just elements built
// from a tag, attributes and children. Text always goes in as text nodes,
// so message bodies can never inject markup.

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** Creates an element; `on…` attributes become listeners, `false`/`null` attributes are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** The element with this id (the page's static skeleton); throws if the page is not the demo page. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

export function displayName(user: string): string {
  return user ? user[0].toUpperCase() + user.slice(1) : user;
}

/** "Alice", "Alice and Bob", "Alice, Bob and Carol". */
export function nameList(users: string[]): string {
  const names = users.map(displayName);
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

export function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Eight well-separated hues: a handful of users never look alike. */
const HUES = [215, 350, 145, 30, 265, 185, 55, 300];

/** A round initial badge; the hue is stable per user so people are easy to tell apart. */
export function avatar(user: string, size: 'sm' | 'md' = 'md'): HTMLElement {
  let hash = 2166136261;
  for (const ch of user) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const initial = displayName(user)[0] ?? '?';
  const el = h('span', { class: `avatar avatar-${size}`, 'aria-hidden': 'true' }, initial);
  el.style.setProperty('--hue', String(HUES[hash % HUES.length]));
  return el;
}
