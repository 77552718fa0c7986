// The table's controls: status filters, the prompt search, row selection by mouse and keyboard
// (arrows move, Enter opens, Escape closes, / searches), and the elapsed-time ticker.
import { elapsed, TERMINAL } from './render.js';

const $ = (selector) => document.querySelector(selector);

export function wireTable({ state, renderTable, select }) {
  $('#status-filters').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-status]');
    if (!button) return;
    const status = button.dataset.status;
    if (status === 'ALL') state.statuses.clear();
    else if (state.statuses.has(status)) state.statuses.delete(status);
    else state.statuses.add(status);
    for (const b of document.querySelectorAll('#status-filters button')) {
      b.setAttribute('aria-pressed', String(b.dataset.status === 'ALL' ? state.statuses.size === 0 : state.statuses.has(b.dataset.status)));
    }
    renderTable();
  });
  $('#search').addEventListener('input', (event) => {
    state.search = event.target.value.trim().toLowerCase();
    renderTable();
  });
  $('#jobs tbody').addEventListener('click', (event) => {
    const row = event.target.closest('tr[data-id]');
    if (row) select(row.dataset.id);
  });
  $('#jobs tbody').addEventListener('keydown', (event) => {
    const row = event.target.closest('tr[data-id]');
    if (!row) return;
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      select(row.dataset.id);
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      (event.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling)?.focus();
    }
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.selected) select(null);
    if (event.key === '/' && !['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName)) {
      event.preventDefault();
      $('#search').focus();
    }
  });
  setInterval(() => {
    for (const cell of document.querySelectorAll('#jobs tbody tr')) {
      const job = state.jobs.get(cell.dataset.id);
      if (job && !TERMINAL.has(job.status)) cell.querySelector('.elapsed').textContent = elapsed(job);
    }
  }, 1000);
}
