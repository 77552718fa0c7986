// DOM building for the table and the detail panel. Text goes in through textContent only (never HTML).

export const STATUSES = ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'];
export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
const LABEL = { IN_QUEUE: 'queued', IN_PROGRESS: 'running', COMPLETED: 'completed', FAILED: 'failed', CANCELLED: 'cancelled' };

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** An image that cannot load (an expired or private URL) keeps its place but shows nothing. */
function hideWhenBroken(image) {
  image.addEventListener('error', () => image.classList.add('broken'), { once: true });
  return image;
}

export const statusLabel = (status) => LABEL[status] ?? status;

export function elapsed(job, now = Date.now()) {
  const start = Date.parse(job.createdAt);
  const end = job.completedAt ? Date.parse(job.completedAt) : now;
  const seconds = Math.max(0, Math.round((end - start) / 1000));
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`;
}

const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const day = (iso) => new Date(iso).toLocaleDateString([], { month: 'short', day: 'numeric' });
const truncate = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
export const money = (m) => (m ? `${m.currency === 'USD' ? '$' : `${m.currency} `}${m.amount}` : '—');

function progress(job) {
  if (job.status === 'IN_PROGRESS') return el('progress', { 'aria-label': 'running' });
  const value = job.status === 'IN_QUEUE' ? 0.05 : 1;
  return el('progress', { max: 1, value, class: job.status.toLowerCase(), 'aria-label': statusLabel(job.status) });
}

export function statusBadge(status) {
  return el('span', { class: `badge ${status.toLowerCase()}`, 'data-status': status, text: statusLabel(status) });
}

/** One table row; `showCost` adds the cost cell. */
export function jobRow(job, { showCost, selected }) {
  const image = hideWhenBroken(el('img', { src: job.input.imageUrl, alt: '', loading: 'lazy', width: 64, height: 36, referrerpolicy: 'no-referrer' }));
  const row = el(
    'tr',
    { 'data-id': job.id, 'data-status': job.status, tabindex: 0, 'aria-selected': selected ? 'true' : 'false' },
    el('td', { class: 'created', title: job.createdAt }, el('span', { text: time(job.createdAt) }), el('small', { text: day(job.createdAt) })),
    el('td', { class: 'thumb' }, image),
    el('td', { class: 'prompt', title: job.input.prompt, text: truncate(job.input.prompt, 80) }),
    el('td', { class: 'status' }, statusBadge(job.status)),
    el('td', { class: 'queue num', text: job.status === 'IN_QUEUE' && job.queuePosition !== null ? `#${job.queuePosition}` : '' }),
    el('td', { class: 'elapsed num', text: elapsed(job) }),
    el('td', { class: 'progress' }, progress(job)),
    showCost ? el('td', { class: 'cost num', text: money(job.cost) }) : null,
  );
  return row;
}

function field(label, value) {
  return value === null || value === undefined || value === '' ? null : el('div', {}, el('dt', { text: label }), el('dd', { text: String(value) }));
}

/** The detail panel's content for one job. */
export function jobDetail(job, { showCost }) {
  const parts = [
    el('header', {}, el('h2', { id: 'detail-title', text: truncate(job.input.prompt, 120) }), statusBadge(job.status)),
    el(
      'dl',
      { class: 'facts' },
      field('Job id', job.id),
      field('Request id', job.requestId),
      field('Created', new Date(job.createdAt).toLocaleString()),
      field('Finished', job.completedAt ? new Date(job.completedAt).toLocaleString() : null),
      field('Elapsed', elapsed(job)),
      field('Queue position', job.status === 'IN_QUEUE' ? job.queuePosition : null),
      showCost ? field('Cost', money(job.cost)) : null,
    ),
  ];
  if (job.video) {
    parts.push(el('section', { class: 'video' }, el('h3', { text: 'Video' }), el('video', { src: job.video.url, controls: true, preload: 'metadata', playsinline: true }), el('a', { href: job.video.url, text: job.video.fileName || 'Download', download: '' })));
  }
  if (job.error) parts.push(el('section', { class: 'error', role: 'alert' }, el('h3', { text: 'Error' }), el('p', {}, el('code', { text: job.error.code || 'ERROR' }), ' ', job.error.message)));
  parts.push(
    el(
      'section',
      { class: 'input' },
      el('h3', { text: 'Input' }),
      hideWhenBroken(el('img', { src: job.input.imageUrl, alt: 'Input image', class: 'input-image', referrerpolicy: 'no-referrer' })),
      el('dl', { class: 'facts' }, field('Prompt', job.input.prompt), field('Image URL', job.input.imageUrl), field('Duration', job.input.duration === 'SECONDS_10' ? '10 s' : '5 s'), field('Negative prompt', job.input.negativePrompt), field('CFG scale', job.input.cfgScale)),
    ),
  );
  const logs = el('ol', { class: 'logs', 'aria-live': 'polite' });
  for (const line of job.logs) logs.append(el('li', {}, el('time', { text: line.timestamp ? time(line.timestamp) : '' }), el('span', { text: line.message })));
  parts.push(el('section', {}, el('h3', { text: `Logs (${job.logs.length})` }), job.logs.length ? logs : el('p', { class: 'muted', text: 'No log lines yet.' })));
  return parts;
}
