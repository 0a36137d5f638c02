// A monospace text editor: a <textarea> (so the browser's editing, undo and
// accessibility stay intact) with a line-number gutter and a marker on the
// line and column of the last validation error. Lines never wrap, so a line
// number always matches one row.

import { h } from "./util.js";

const TAB_SIZE = 4;

export class Editor {
  constructor({ id, value = "", describedBy, onInput, readOnly = false, rows = 20 }) {
    this.textarea = h("textarea", {
      id,
      class: "editor-text",
      wrap: "off",
      spellcheck: "false",
      autocapitalize: "off",
      autocomplete: "off",
      "aria-describedby": describedBy,
      readonly: readOnly,
      rows,
      value,
    });
    this.gutter = h("div", { class: "editor-gutter", "aria-hidden": "true" });
    this.band = h("div", { class: "editor-band", "aria-hidden": "true", hidden: true });
    this.caret = h("div", { class: "editor-caret", "aria-hidden": "true", hidden: true }, "▲");
    this.el = h(
      "div",
      { class: "editor" },
      this.gutter,
      h("div", { class: "editor-area" }, this.band, this.caret, this.textarea),
    );
    this.error = null;
    this.lineCount = 0;
    this.textarea.addEventListener("input", () => {
      this.renderGutter();
      if (onInput) onInput(this.value);
    });
    this.textarea.addEventListener("scroll", () => this.sync());
    new ResizeObserver(() => this.sync()).observe(this.textarea);
    this.renderGutter();
  }

  get value() {
    return this.textarea.value;
  }

  set value(text) {
    this.textarea.value = text;
    this.renderGutter();
  }

  renderGutter() {
    const count = Math.max(1, this.value.split("\n").length);
    if (count !== this.lineCount) {
      this.lineCount = count;
      const rows = [];
      for (let i = 1; i <= count; i += 1) rows.push(h("div", { dataset: { line: i } }, i));
      this.gutter.replaceChildren(h("div", { class: "editor-gutter-inner" }, rows));
    }
    this.markGutter();
    this.sync();
  }

  markGutter() {
    for (const row of this.gutter.querySelectorAll(".error")) {
      row.classList.remove("error");
      row.removeAttribute("title");
    }
    if (this.error) {
      const row = this.gutter.querySelector(`[data-line="${this.error.line}"]`);
      if (row) {
        row.classList.add("error");
        row.title = this.error.message;
      }
    }
  }

  /** Marks `line` (1-based) and `column` as the place of `message`. */
  setError(line, column, message) {
    this.error = { line, column: column || 1, message };
    this.el.dataset.errorLine = String(line);
    this.textarea.setAttribute("aria-invalid", "true");
    this.markGutter();
    this.sync();
  }

  clearError() {
    this.error = null;
    delete this.el.dataset.errorLine;
    this.textarea.removeAttribute("aria-invalid");
    this.markGutter();
    this.sync();
  }

  /** Puts the cursor at `line`, `column` and scrolls it into view. */
  goTo(line, column = 1) {
    const rows = this.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < rows.length; i += 1) offset += rows[i].length + 1;
    const row = rows[Math.min(line, rows.length) - 1] || "";
    offset += Math.min(Math.max(column - 1, 0), row.length);
    this.textarea.focus();
    this.textarea.setSelectionRange(offset, offset);
    const metrics = this.metrics();
    const top = (line - 1) * metrics.lineHeight;
    const ta = this.textarea;
    if (top < ta.scrollTop || top > ta.scrollTop + ta.clientHeight - 2 * metrics.lineHeight) {
      ta.scrollTop = Math.max(0, top - ta.clientHeight / 3);
    }
    this.sync();
  }

  metrics() {
    const style = getComputedStyle(this.textarea);
    const lineHeight = parseFloat(style.lineHeight) || 20;
    if (!this.charWidth) {
      const probe = h("span", { class: "editor-probe" }, "0".repeat(100));
      this.el.append(probe);
      this.charWidth = probe.getBoundingClientRect().width / 100 || 8;
      probe.remove();
    }
    return {
      lineHeight,
      padTop: parseFloat(style.paddingTop) || 0,
      padLeft: parseFloat(style.paddingLeft) || 0,
      charWidth: this.charWidth,
    };
  }

  /** Keeps the gutter and the error marker aligned with the scrolled text. */
  sync() {
    const ta = this.textarea;
    const inner = this.gutter.firstChild;
    if (inner) inner.style.transform = `translateY(${-ta.scrollTop}px)`;
    if (!this.error) {
      this.band.hidden = true;
      this.caret.hidden = true;
      return;
    }
    const m = this.metrics();
    const top = m.padTop + (this.error.line - 1) * m.lineHeight - ta.scrollTop;
    this.band.hidden = false;
    this.band.style.top = `${top}px`;
    this.band.style.height = `${m.lineHeight}px`;
    const row = this.value.split("\n")[this.error.line - 1] || "";
    const visual = visualColumn(row, this.error.column);
    this.caret.hidden = false;
    this.caret.style.top = `${top + m.lineHeight - 6}px`;
    this.caret.style.left = `${m.padLeft + (visual - 1) * m.charWidth - ta.scrollLeft}px`;
  }
}

/** The display column of character `column` (1-based), tabs expanded. */
function visualColumn(row, column) {
  let visual = 1;
  for (let i = 0; i < column - 1 && i < row.length; i += 1) {
    visual = row[i] === "\t" ? visual + TAB_SIZE - ((visual - 1) % TAB_SIZE) : visual + 1;
  }
  return visual;
}
