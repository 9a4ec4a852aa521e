// @ts-check
/**
 * A long table shown a window at a time: of thousands of rows, only those near
 * the viewport are in the page; the others wait as blank rows of their height, so
 * the scroll bar, the scroll position and the focus stay as they would be. Rows go
 * in blocks, a block built when it comes within a screen of the viewport and taken
 * out again when it is three screens away (never while the focus is in it). A table
 * of up to {@linkcode ALL_ROWS} rows is always shown whole, so that finding in the
 * page and reading it with a screen reader work as in any table; a longer one says
 * its size with `aria-rowcount` and each row's place with `aria-rowindex`.
 *
 * @module
 */

import { h, morph } from "./dom.js";

/** Up to this many rows, the table is shown whole. */
export const ALL_ROWS = 200;
/** Rows come and go a block at a time. */
const BLOCK_ROWS = 25;
/** How near the viewport a block comes in, and how far it goes out, in viewport heights. */
const RENDER_SCREENS = 1;
const KEEP_SCREENS = 3;
/** A row's height until one is measured, px. */
const FIRST_ROW_HEIGHT = 48;

/**
 * A row to show: its key, and how to build it (called only when it is shown).
 *
 * @typedef {object} LazyRow
 * @property {string} key Unique within the table.
 * @property {() => HTMLTableRowElement} build Builds the row.
 */

/**
 * A row group (`<tbody>`): its key, its heading row (always shown) and its rows.
 *
 * @typedef {object} RowGroup
 * @property {string} key Unique within the table.
 * @property {HTMLTableRowElement} head The heading row.
 * @property {LazyRow[]} rows The rows under it.
 */

/**
 * @typedef {object} Block
 * @property {string} key
 * @property {RowGroup} group
 * @property {LazyRow[]} rows
 * @property {number} first The 1-based row index of its first row, counting every row.
 */

/** A table whose row groups are shown a window at a time. */
export class WindowedTable {
  /** @type {Block[]} */
  #blocks = [];
  /** @type {RowGroup[]} */
  #groups = [];
  /** @type {Set<string>} Blocks in the page now. */
  #shown = new Set();
  /** @type {Map<string, number>} Blocks' heights as last measured, px. */
  #heights = new Map();
  #rowHeight = FIRST_ROW_HEIGHT;
  #rowCount = 0;
  #passQueued = false;
  #width = 0;

  /**
   * @param {HTMLTableElement} table The table: its `<tbody>`s are this class's to fill; its
   *   other children (caption, columns, header) stay.
   * @param {number} columns How many columns, for the blank rows.
   * @param {AbortSignal} signal Stops watching the scroll and the window's size.
   */
  constructor(table, columns, signal) {
    /** @readonly */
    this.table = table;
    /** @readonly */
    this.columns = columns;
    const queue = () => this.#queuePass();
    globalThis.addEventListener("scroll", queue, { passive: true, signal });
    globalThis.addEventListener("resize", queue, { signal });
  }

  /**
   * Shows these row groups: the rows of the blocks in the window are built afresh
   * (the others when they come into it), and morphed into place.
   *
   * @param {readonly RowGroup[]} groups The groups, in order.
   */
  show(groups) {
    this.#groups = [...groups];
    this.#blocks = [];
    let index = 2; // Row 1 is the header's.
    for (const group of groups) {
      index++;
      for (let at = 0; at < group.rows.length; at += BLOCK_ROWS) {
        const rows = group.rows.slice(at, at + BLOCK_ROWS);
        this.#blocks.push({ key: `${group.key}\n${at}`, group, rows, first: index });
        index += rows.length;
      }
    }
    this.#rowCount = index - 1;
    const whole = this.#rowCount <= ALL_ROWS;
    const known = new Set(this.#blocks.map((block) => block.key));
    /** @type {Set<string>} */
    let wanted = new Set([...this.#shown].filter((key) => known.has(key)));
    if (whole) wanted = known;
    else if (wanted.size === 0) wanted = this.#firstScreens();
    this.#render(wanted);
    if (!whole) this.#queuePass();
  }

  /** The blocks that fill the first screens, by their estimated heights. */
  #firstScreens() {
    const wanted = new Set();
    let height = this.table.getBoundingClientRect().top;
    for (const block of this.#blocks) {
      if (height > innerHeight * (1 + RENDER_SCREENS)) break;
      wanted.add(block.key);
      height += this.#height(block);
    }
    return wanted;
  }

  /** @param {Block} block */
  #height(block) {
    return this.#heights.get(block.key) ?? block.rows.length * this.#rowHeight;
  }

  #queuePass() {
    if (this.#passQueued || !this.table.isConnected) return;
    this.#passQueued = true;
    requestAnimationFrame(() => {
      this.#passQueued = false;
      this.#pass();
    });
  }

  /** Brings the blocks near the viewport in, and those far from it out. */
  #pass() {
    if (!this.table.isConnected || this.#rowCount <= ALL_ROWS) return;
    if (this.table.clientWidth !== this.#width) {
      // Rows wrap differently at another width: what was measured no longer holds.
      this.#width = this.table.clientWidth;
      this.#heights.clear();
    }
    const extents = this.#measure();
    const focused = document.activeElement?.closest("[data-block]")?.getAttribute("data-block");
    const near = (/** @type {{ top: number, bottom: number }} */ extent, screens = 0) =>
      extent.bottom >= -innerHeight * screens && extent.top <= innerHeight * (1 + screens);
    const wanted = new Set();
    for (const block of this.#blocks) {
      const extent = extents.get(block.key);
      if (extent === undefined) continue;
      const keep = this.#shown.has(block.key) &&
        (near(extent, KEEP_SCREENS) || block.key === focused);
      if (keep || near(extent, RENDER_SCREENS)) wanted.add(block.key);
    }
    if (wanted.size === this.#shown.size && [...wanted].every((key) => this.#shown.has(key))) {
      return;
    }
    this.#render(wanted);
  }

  /**
   * Where each block is now, relative to the viewport, from where its first row (or
   * blank) starts to where the next block's does; shown blocks' heights recorded.
   *
   * @returns {Map<string, { top: number, bottom: number }>}
   */
  #measure() {
    /** @type {{ key: string, top: number }[]} */
    const starts = [];
    let last = "";
    for (const element of this.table.querySelectorAll("[data-block]")) {
      const key = /** @type {string} */ (element.getAttribute("data-block"));
      if (key === last) continue;
      last = key;
      starts.push({ key, top: element.getBoundingClientRect().top });
    }
    const end = this.table.getBoundingClientRect().bottom;
    const sizes = new Map(this.#blocks.map((block) => [block.key, block.rows.length]));
    /** @type {Map<string, { top: number, bottom: number }>} */
    const extents = new Map();
    let rows = 0;
    let height = 0;
    starts.forEach(({ key, top }, i) => {
      const bottom = starts[i + 1]?.top ?? end;
      extents.set(key, { top, bottom });
      if (this.#shown.has(key)) {
        this.#heights.set(key, bottom - top);
        rows += sizes.get(key) ?? 0;
        height += bottom - top;
      }
    });
    if (rows > 0) this.#rowHeight = height / rows;
    return extents;
  }

  /**
   * Puts the wanted blocks' rows in the page, and blank rows for the others.
   *
   * @param {Set<string>} wanted The blocks to show.
   */
  #render(wanted) {
    const windowed = this.#rowCount > ALL_ROWS;
    /** @type {Map<RowGroup, HTMLTableSectionElement>} */
    const bodies = new Map();
    for (const group of this.#groups) {
      // A copy: the heading given may be in the page already, from the last time.
      const head = /** @type {HTMLTableRowElement} */ (group.head.cloneNode(true));
      bodies.set(group, h("tbody", { "data-key": `group\n${group.key}` }, head));
    }
    for (const block of this.#blocks) {
      const body = /** @type {HTMLTableSectionElement} */ (bodies.get(block.group));
      if (block.rows[0] === block.group.rows[0] && windowed) {
        body.firstElementChild?.setAttribute("aria-rowindex", String(block.first - 1));
      }
      if (!wanted.has(block.key)) {
        const cell = h("td", { colspan: this.columns });
        // Through the CSS object model: the page's policy refuses style attributes.
        cell.style.height = `${Math.round(this.#height(block))}px`;
        const attributes = { "data-block": block.key, "data-key": block.key };
        body.append(h("tr", { class: "blank", "aria-hidden": "true", ...attributes }, cell));
        continue;
      }
      block.rows.forEach((lazy, i) => {
        const row = lazy.build();
        row.setAttribute("data-block", block.key);
        if (windowed) row.setAttribute("aria-rowindex", String(block.first + i));
        body.append(row);
      });
    }
    const shell = /** @type {HTMLTableElement} */ (this.table.cloneNode(false));
    for (const child of this.table.children) {
      if (child.tagName !== "TBODY") shell.append(child.cloneNode(true));
    }
    shell.append(...bodies.values());
    if (windowed) shell.setAttribute("aria-rowcount", String(this.#rowCount));
    else shell.removeAttribute("aria-rowcount");
    morph(this.table, shell);
    this.#shown = wanted;
  }
}
