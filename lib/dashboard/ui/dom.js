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
 * Makes `from` look like `to`, changing only what differs: equal subtrees stay
 * as they are (with the focus in them); an element of another tag or another
 * `data-key` is replaced. Listeners are not compared: morph only parts of the
 * page whose elements have none (links are fine).
 *
 * @param {Node} from The live node.
 * @param {Node} to What it should become (consumed).
 */
export function morph(from, to) {
  if (from.isEqualNode(to)) return;
  if (
    from.nodeType !== to.nodeType || from.nodeName !== to.nodeName ||
    (from instanceof Element && to instanceof Element &&
      from.getAttribute("data-key") !== to.getAttribute("data-key"))
  ) {
    from.parentNode?.replaceChild(to, from);
    return;
  }
  if (!(from instanceof Element) || !(to instanceof Element)) {
    from.nodeValue = to.nodeValue;
    return;
  }
  for (const { name } of [...from.attributes]) {
    if (!to.hasAttribute(name)) from.removeAttribute(name);
  }
  for (const { name, value } of [...to.attributes]) {
    if (from.getAttribute(name) !== value) from.setAttribute(name, value);
  }
  const wanted = [...to.childNodes];
  const present = [...from.childNodes];
  wanted.forEach((child, i) => {
    const live = present[i];
    if (live === undefined) from.appendChild(child);
    else morph(live, child);
  });
  for (const extra of present.slice(wanted.length)) extra.remove();
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
