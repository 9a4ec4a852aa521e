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
 * A row to show: its key, and how to build it (called each time it is shown).
 *
 * @typedef {object} LazyRow
 * @property {string} key Unique within its group.
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
 * @property {number} index Its place among all blocks.
 * @property {RowGroup} group
 * @property {LazyRow[]} rows
 * @property {number} first The 1-based row index of its first row, counting every row.
 */

/** A table whose row groups are shown a window at a time. */
export class WindowedTable {
  /** @type {readonly RowGroup[]} */
  #groups = [];
  /** @type {Block[]} */
  #blocks = [];
  /** @type {Map<string, Block>} */
  #byKey = new Map();
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
   * Shows these row groups: the rows in the window are built afresh (the others
   * when they come into it) and morphed into place. Given the same groups again,
   * it only builds the rows in the window again.
   *
   * @param {readonly RowGroup[]} groups The groups, in order.
   */
  show(groups) {
    const same = groups === this.#groups;
    if (!same) this.#divide(groups);
    const whole = this.#rowCount <= ALL_ROWS;
    /** @type {Set<string>} */
    let wanted;
    if (whole) wanted = new Set(this.#byKey.keys());
    // The same rows again: those near the viewport only (the ones kept further out go).
    else if (same && this.#shown.size > 0) wanted = this.#wanted(false);
    else {
      wanted = new Set([...this.#shown].filter((key) => this.#byKey.has(key)));
      if (wanted.size === 0) wanted = this.#firstScreens();
    }
    this.#render(wanted);
    if (!whole) this.#queuePass();
  }

  /** @param {readonly RowGroup[]} groups */
  #divide(groups) {
    this.#groups = groups;
    this.#blocks = [];
    let row = 2; // Row 1 is the header's.
    for (const group of groups) {
      row++;
      for (let at = 0; at < group.rows.length; at += BLOCK_ROWS) {
        const rows = group.rows.slice(at, at + BLOCK_ROWS);
        const key = `${group.key}\n${at}`;
        this.#blocks.push({ key, index: this.#blocks.length, group, rows, first: row });
        row += rows.length;
      }
    }
    this.#byKey = new Map(this.#blocks.map((block) => [block.key, block]));
    this.#rowCount = row - 1;
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
    const wanted = this.#wanted(true);
    if (wanted.size === this.#shown.size && [...wanted].every((key) => this.#shown.has(key))) {
      return;
    }
    this.#render(wanted);
    // Rows of another height than their blanks move the rest: look again once drawn.
    this.#queuePass();
  }

  /**
   * The blocks to show where the table is now: those within a screen of the viewport,
   * the one with the focus, and, when `keep`, those shown within three screens.
   *
   * @param {boolean} keep Whether blocks shown stay until they are further away.
   * @returns {Set<string>}
   */
  #wanted(keep) {
    const extents = this.#measure();
    const focused = document.activeElement?.closest("[data-block]")?.getAttribute("data-block");
    const near = (/** @type {{ top: number, bottom: number }} */ extent, screens = 0) =>
      extent.bottom >= -innerHeight * screens && extent.top <= innerHeight * (1 + screens);
    const wanted = new Set();
    for (const [key, extent] of extents) {
      const kept = keep && this.#shown.has(key) && near(extent, KEEP_SCREENS);
      if (kept || key === focused || near(extent, RENDER_SCREENS)) wanted.add(key);
    }
    return wanted;
  }

  /**
   * Where each block is now, relative to the viewport: a shown block from its first
   * row to the next block's, those under a blank row by their share of it. Shown
   * blocks' heights are recorded.
   *
   * @returns {Map<string, { top: number, bottom: number }>}
   */
  #measure() {
    /** @type {{ block: Block, top: number, count: number }[]} */
    const anchors = [];
    for (const element of this.table.querySelectorAll("[data-block]")) {
      const block = this.#byKey.get(element.getAttribute("data-block") ?? "");
      if (block === undefined || anchors.at(-1)?.block === block) continue;
      const count = Number(element.getAttribute("data-blocks") ?? 1);
      anchors.push({ block, top: element.getBoundingClientRect().top, count });
    }
    const end = this.table.getBoundingClientRect().bottom;
    /** @type {Map<string, { top: number, bottom: number }>} */
    const extents = new Map();
    let rows = 0;
    let height = 0;
    anchors.forEach(({ block, top, count }, i) => {
      const bottom = anchors[i + 1]?.top ?? end;
      if (this.#shown.has(block.key)) {
        extents.set(block.key, { top, bottom });
        this.#heights.set(block.key, bottom - top);
        rows += block.rows.length;
        height += bottom - top;
        return;
      }
      let at = top;
      for (const hidden of this.#blocks.slice(block.index, block.index + count)) {
        extents.set(hidden.key, { top: at, bottom: at + this.#height(hidden) });
        at += this.#height(hidden);
      }
    });
    if (rows > 0) this.#rowHeight = height / rows;
    return extents;
  }

  /**
   * Puts the wanted blocks' rows in the page, and a blank row for each run of the
   * others within a group.
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
    /** @type {{ first: Block, count: number, height: number } | null} */
    let gap = null;
    const closeGap = () => {
      if (gap === null) return;
      const cell = h("td", { colspan: this.columns });
      // Through the CSS object model: the page's policy refuses style attributes.
      cell.style.height = `${Math.round(gap.height)}px`;
      const row = h("tr", {
        class: "blank",
        "aria-hidden": "true",
        "data-key": `gap\n${gap.first.key}`,
        "data-block": gap.first.key,
        "data-blocks": gap.count,
      }, cell);
      bodies.get(gap.first.group)?.append(row);
      gap = null;
    };
    for (const block of this.#blocks) {
      const body = /** @type {HTMLTableSectionElement} */ (bodies.get(block.group));
      if (windowed && block.rows[0] === block.group.rows[0]) {
        body.firstElementChild?.setAttribute("aria-rowindex", String(block.first - 1));
      }
      if (gap !== null && gap.first.group !== block.group) closeGap();
      if (!wanted.has(block.key)) {
        gap ??= { first: block, count: 0, height: 0 };
        gap.count++;
        gap.height += this.#height(block);
        continue;
      }
      closeGap();
      block.rows.forEach((lazy, i) => {
        const row = lazy.build();
        row.setAttribute("data-block", block.key);
        if (windowed) row.setAttribute("aria-rowindex", String(block.first + i));
        body.append(row);
      });
    }
    closeGap();
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
