// @ts-check
/**
 * Building the page's DOM safely: elements made with `createElement` and text
 * with text nodes only, never from HTML strings, so no job data can become
 * markup; and `morph`, which brings a live part of the page up to date in place
 * so that refreshes keep the focus and the reader's place.
 *
 * @module
 */

/**
 * A child: a node, text (made a text node), or nothing.
 *
 * @typedef {Node | string | number | null | undefined | false} Child
 */

/**
 * Attributes: `class`, `aria-*`, `data-*`, … set as attributes (true: present,
 * false, null or undefined: absent); `on…` functions become event listeners.
 *
 * @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Props
 */

/**
 * @param {Element} element
 * @param {Props} props
 * @param {Child[]} children
 */
function fill(element, props, children) {
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/**
 * Makes an HTML element.
 *
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag The tag name.
 * @param {Props} [props] Attributes and listeners.
 * @param {...Child} children Its children.
 * @returns {HTMLElementTagNameMap[K]} The element.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  fill(element, props, children);
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Makes an SVG element.
 *
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag The tag name.
 * @param {Props} [props] Attributes.
 * @param {...Child} children Its children.
 * @returns {SVGElementTagNameMap[K]} The element.
 */
export function s(tag, props = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  fill(element, props, children);
  return element;
}

/**
 * Attributes the reader changes, kept as the reader left them: a `<details>`
 * opened or closed stays so.
 */
const READER_STATE = /** @type {Readonly<Record<string, readonly string[]>>} */ ({
  DETAILS: ["open"],
});

/** @param {Node} node @returns {string | null} */
function keyOf(node) {
  return node instanceof Element ? node.getAttribute("data-key") : null;
}

/**
 * Makes `from` look like `to`, changing only what differs: equal subtrees stay
 * as they are (with the focus in them); an element of another tag or another
 * `data-key` is replaced. Children with a `data-key` are matched by key, not by
 * place, so a row added at the top leaves the rows below (and the focus in one)
 * in place. What the reader changed stays: a `<details>` keeps its open state.
 * Listeners are not compared: morph only parts of the page whose elements have
 * none (links are fine).
 *
 * @param {Node} from The live node.
 * @param {Node} to What it should become (consumed).
 */
export function morph(from, to) {
  if (from.isEqualNode(to)) return;
  if (
    from.nodeType !== to.nodeType || from.nodeName !== to.nodeName || keyOf(from) !== keyOf(to)
  ) {
    from.parentNode?.replaceChild(to, from);
    return;
  }
  if (!(from instanceof Element) || !(to instanceof Element)) {
    if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue;
    return;
  }
  const kept = READER_STATE[from.nodeName] ?? [];
  for (const { name } of [...from.attributes]) {
    if (!to.hasAttribute(name) && !kept.includes(name)) from.removeAttribute(name);
  }
  for (const { name, value } of [...to.attributes]) {
    if (from.getAttribute(name) === value || kept.includes(name)) continue;
    // Styles through the CSS object model: the page's policy refuses style attributes.
    if (name === "style" && from instanceof HTMLElement && to instanceof HTMLElement) {
      from.style.cssText = to.style.cssText;
    } else {
      from.setAttribute(name, value);
    }
  }
  morphChildren(from, [...to.childNodes]);
}

/**
 * Brings `parent`'s children in line with `wanted`: keyed ones matched by key,
 * the others by place.
 *
 * @param {Element} parent The live parent.
 * @param {Node[]} wanted Its new children (consumed).
 */
function morphChildren(parent, wanted) {
  const keys = new Set(wanted.map(keyOf).filter((key) => key !== null));
  /** @type {Map<string, Node>} */
  const byKey = new Map();
  for (const child of [...parent.childNodes]) {
    const key = keyOf(child);
    if (key === null) continue;
    // Rows that are gone go first, so that none of the rows staying has to move.
    if (keys.has(key) && !byKey.has(key)) byKey.set(key, child);
    else child.remove();
  }
  wanted.forEach((child, i) => {
    const at = parent.childNodes[i] ?? null;
    const key = keyOf(child);
    const live = key === null ? (at !== null && keyOf(at) === null ? at : null) : byKey.get(key);
    if (live === undefined || live === null) {
      parent.insertBefore(child, at);
      return;
    }
    if (live !== at) parent.insertBefore(live, at);
    morph(live, child);
  });
  while (parent.childNodes.length > wanted.length) parent.lastChild?.remove();
}

/**
 * Text for screen readers only (visually hidden).
 *
 * @param {string} text The text.
 * @returns {HTMLSpanElement} The element.
 */
export function srOnly(text) {
  return h("span", { class: "sr-only" }, text);
}
