// The dashboard: state (jobs by id, filters, selection), wiring of the page, and the live feed.
import { credential, requestWithFile, detectFeatures, GraphQLRequestError, request, wsUrl } from './api.js';
import { followEvents } from './live.js';
import * as Q from './queries.js';
import { jobDetail, jobRow, money, STATUSES, TERMINAL } from './render.js';
import { wireTable } from './table-controls.js';

const $ = (selector) => document.querySelector(selector);
const state = { features: { cost: false, usage: false }, jobs: new Map(), selected: null, statuses: new Set(), search: '', endCursor: null, hasOlder: false, live: null };

const newestFirst = (a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1);

function upsert(job) {
  const known = state.jobs.get(job.id);
  if (known && known.updatedAt > job.updatedAt) return; // an older snapshot (a page read before a live event)
  state.jobs.set(job.id, job);
}

function visible(job) {
  if (state.statuses.size > 0 && !state.statuses.has(job.status)) return false;
  return !state.search || job.input.prompt.toLowerCase().includes(state.search);
}

function renderTable() {
  const body = $('#jobs tbody');
  const focusedId = document.activeElement?.closest?.('tr')?.dataset.id;
  const jobs = [...state.jobs.values()].filter(visible).sort(newestFirst);
  body.replaceChildren(...jobs.map((job) => jobRow(job, { showCost: state.features.cost, selected: job.id === state.selected })));
  if (focusedId) body.querySelector(`tr[data-id="${CSS.escape(focusedId)}"]`)?.focus();
  $('#empty').hidden = jobs.length > 0;
  $('#older').hidden = !state.hasOlder;
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  for (const job of state.jobs.values()) counts[job.status] += 1;
  for (const button of document.querySelectorAll('#status-filters button[data-status]')) {
    const count = button.querySelector('.count');
    if (count) count.textContent = String(counts[button.dataset.status]);
  }
}

function renderDetail() {
  const panel = $('#detail');
  const job = state.selected && state.jobs.get(state.selected);
  if (!job) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  const video = panel.querySelector('video');
  // Keep a playing video element when only logs or status changed.
  if (video && job.video && video.getAttribute('src') === job.video.url) {
    const content = $('#detail-content');
    const fresh = jobDetail(job, { showCost: state.features.cost });
    const oldVideo = content.querySelector('section.video');
    content.replaceChildren(...fresh.map((part) => (part.classList?.contains('video') && oldVideo ? oldVideo : part)));
  } else {
    $('#detail-content').replaceChildren(...jobDetail(job, { showCost: state.features.cost }));
  }
  $('#cancel').hidden = TERMINAL.has(job.status);
}

const render = () => {
  renderTable();
  renderDetail();
};

function setConnection(status, detail) {
  const pill = $('#connection');
  pill.dataset.state = status;
  pill.textContent = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', refused: 'refused', offline: 'offline' }[status] ?? status;
  if (status === 'refused') showAuth(`The gateway refused this key: ${detail}`);
}

function showAuth(message) {
  $('#auth').hidden = false;
  $('#auth-message').textContent = message;
  $('#key').focus();
}

function say(message, kind = 'info') {
  const box = $('#message');
  box.textContent = message;
  box.dataset.kind = kind;
  box.hidden = !message;
}

async function loadPage(after = null) {
  const data = await request(Q.jobsPage(state.features), { first: 25, after });
  for (const edge of data.jobs.edges) upsert(edge.node);
  state.endCursor = data.jobs.pageInfo.endCursor;
  state.hasOlder = data.jobs.pageInfo.hasNextPage;
  render();
}

async function loadUsage() {
  if (!state.features.usage) return;
  const from = new Date();
  from.setUTCHours(0, 0, 0, 0);
  try {
    const { usage } = await request(Q.usage(state.features), { from: from.toISOString() });
    const budget = usage.dailyBudget && Number(usage.dailyBudget.amount) > 0 ? ` of ${money(usage.dailyBudget)} budget` : '';
    $('#usage').textContent = `Today: ${money(usage.spent)}${budget}`;
    $('#usage').hidden = false;
  } catch {
    $('#usage').hidden = true;
  }
}

function startLive() {
  state.live?.stop();
  state.live = followEvents({
    url: wsUrl,
    document: Q.jobEvents(state.features),
    authorization: () => credential.header(),
    onStatus: setConnection,
    onEvent: ({ job, deleted }) => {
      if (deleted) state.jobs.delete(job.id); // refused at once, or purged: gone
      else upsert(job);
      render();
      if (job.status === 'COMPLETED') void loadUsage();
    },
    onExpired: () => void loadPage().catch(() => undefined), // the feed went too far back: re-read, then live
  });
}

async function start() {
  say('');
  try {
    state.features = await detectFeatures();
  } catch (error) {
    if (error instanceof GraphQLRequestError && error.code === 'UNAUTHENTICATED') {
      setConnection('offline');
      showAuth(credential.get() ? 'The gateway refused this key. Check it and try again.' : 'This gateway needs an API key.');
      return;
    }
    say(`The gateway did not answer: ${error.message}`, 'error');
    return;
  }
  $('#auth').hidden = !credential.get();
  $('#auth-message').textContent = credential.get() ? 'Key accepted.' : '';
  document.body.classList.toggle('with-cost', state.features.cost);
  $('#cost-head').hidden = !state.features.cost;
  startLive(); // live first, then the page: nothing can fall in between (upsert keeps the newer state)
  await loadPage().catch((error) => say(error.message, 'error'));
  await loadUsage();
}

function select(id) {
  state.selected = id;
  render();
  if (id) $('#detail').focus();
}

function wire() {
  $('#auth').addEventListener('submit', (event) => {
    event.preventDefault();
    credential.set($('#key').value.trim());
    $('#key').value = '';
    state.jobs.clear();
    void start();
  });
  $('#submit-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const file = form.get('image');
    const upload = file instanceof File && file.size > 0 ? file : null;
    const input = { prompt: form.get('prompt'), duration: form.get('duration') };
    if (upload) input.image = null;
    else input.imageUrl = form.get('imageUrl');
    if (form.get('negativePrompt')) input.negativePrompt = form.get('negativePrompt');
    if (form.get('cfgScale') !== '') input.cfgScale = Number(form.get('cfgScale'));
    const button = event.target.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const query = Q.submit(state.features);
      const { generateVideo } = upload ? await requestWithFile(query, { input }, 'input.image', upload) : await request(query, { input });
      upsert(generateVideo);
      render();
      say(`Submitted job ${generateVideo.id}.`);
    } catch (error) {
      const field = error.errors?.[0]?.extensions?.field;
      say(field ? `${field}: ${error.message}` : error.message, 'error');
    } finally {
      button.disabled = false;
    }
  });
  $('#older').addEventListener('click', () => void loadPage(state.endCursor).catch((error) => say(error.message, 'error')));
  $('#close-detail').addEventListener('click', () => select(null));
  $('#cancel').addEventListener('click', async () => {
    const job = state.jobs.get(state.selected);
    if (!job || !confirm(`Cancel this job?\n\n${job.input.prompt.slice(0, 200)}`)) return;
    try {
      upsert((await request(Q.cancel(state.features), { id: job.id })).cancelJob);
      render();
    } catch (error) {
      say(error.message, 'error');
    }
  });
  wireTable({ state, renderTable, select });
}

wire();
void start();
