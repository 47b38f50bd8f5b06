// A virtualised list: only the rows in view (plus a margin) exist in the DOM,
// so 10,000 instances cost as much to show as 40. Rows are recycled, not
// rebuilt, as the list scrolls.

import { h } from './dom.js';

export class VirtualList {
  // columns: [{title, width}]; render(rowEl, item, index) fills a recycled row.
  constructor({ columns, render, create, onClick, rowHeight = 30, overscan = 6, empty = 'Nothing to show' }) {
    Object.assign(this, { render, create, onClick, rowHeight, overscan, emptyText: empty });
    this.items = [];
    this.pool = [];
    this.el = h('div', { class: 'table', role: 'table' });
    this.el.style.setProperty('--cols', columns.map((c) => c.width || '1fr').join(' '));
    this.el.style.setProperty('--row', `${rowHeight}px`);
    this.head = h('div', { class: 'thead', role: 'row' }, columns.map((c) => h('span', { role: 'columnheader', text: c.title })));
    this.scroller = h('div', { class: 'vlist', role: 'rowgroup' });
    this.spacer = h('div', { class: 'vspacer' });
    this.emptyEl = h('div', { class: 'empty', text: this.emptyText, hidden: true });
    this.scroller.append(this.spacer, this.emptyEl);
    this.el.append(this.head, this.scroller);
    this.frame = 0;
    this.scroller.addEventListener('scroll', () => this.schedule(false), { passive: true });
    this.resize = new ResizeObserver(() => this.schedule(true));
    this.resize.observe(this.scroller);
    this.scroller.addEventListener('click', (ev) => {
      const row = ev.target.closest('.vrow');
      if (row && !ev.target.closest('a') && this.onClick) this.onClick(this.items[Number(row.dataset.index)], ev);
    });
  }

  setItems(items) {
    this.items = items;
    this.spacer.style.height = `${items.length * this.rowHeight}px`;
    this.emptyEl.hidden = items.length > 0;
    this.schedule(true);
  }

  // Re-render the rows in view (a clock tick, or the same items changed inside).
  refresh() { this.schedule(true); }

  schedule(force) {
    this.force ||= force;
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    const force = this.force;
    this.force = false;
    const { rowHeight, overscan, items } = this;
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / rowHeight) - overscan);
    const last = Math.min(items.length, Math.ceil((top + height) / rowHeight) + overscan);
    const want = Math.max(0, last - first);
    while (this.pool.length < want) {
      const row = this.create ? this.create() : h('div');
      row.classList.add('vrow');
      row.setAttribute('role', 'row');
      if (this.onClick) row.classList.add('clickable');
      this.pool.push(row);
      this.scroller.append(row);
    }
    while (this.pool.length > want) this.pool.pop().remove();
    for (let k = 0; k < want; k++) {
      const i = first + k;
      const row = this.pool[k];
      if (force || row.dataset.index !== String(i)) {
        row.dataset.index = String(i);
        row.style.transform = `translateY(${i * rowHeight}px)`;
        this.render(row, items[i], i);
      }
    }
  }

  destroy() {
    this.resize.disconnect();
    cancelAnimationFrame(this.frame);
    this.el.remove();
  }
}

// A row of N cells to fill in render(): row.cells[i].
export function cellsRow(n) {
  return () => {
    const row = h('div');
    row.cells = Array.from({ length: n }, () => row.appendChild(h('span', { role: 'cell' })));
    return row;
  };
}
