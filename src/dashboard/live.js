// The live feed: jobEvents over graphql-ws (its browser build, served by the gateway), resumed from the
// last cursor after every reconnect. graphql-ws would re-send the first subscription unchanged on its own
// retries (the old cursor), so retries are ours: each connection subscribes with the newest cursor.
const { createClient } = window.graphqlWs;

const REFUSED = new Set([4401, 4403]);

/**
 * Follows jobEvents. `onEvent(event)` gets each { cursor, job }; `onStatus(state, detail)` gets
 * 'connecting' | 'live' | 'reconnecting' | 'refused' | 'expired'. `cursor` is where to resume.
 * Returns { stop(), restart() }.
 */
export function followEvents({ url, document, authorization, onEvent, onStatus, onExpired, cursor = null }) {
  let client = null;
  let stopped = false;
  let attempt = 0;
  let timer = null;

  function connect() {
    if (stopped) return;
    onStatus(attempt === 0 ? 'connecting' : 'reconnecting');
    let refused = false;
    client = createClient({
      url,
      lazy: false,
      retryAttempts: 0,
      connectionParams: () => {
        const value = authorization();
        return value ? { authorization: value } : {};
      },
      on: {
        connected: () => {
          attempt = 0;
          onStatus('live');
        },
        closed: (event) => {
          if (REFUSED.has(event?.code)) {
            refused = true;
            onStatus('refused', event.reason || 'The gateway refused the credential.');
          }
        },
      },
    });
    client.subscribe(
      { query: document, variables: { after: cursor } },
      {
        next: (message) => {
          const code = message.errors?.[0]?.extensions?.code;
          if (code === 'CURSOR_EXPIRED') {
            cursor = null;
            onExpired();
            return;
          }
          if (code === 'UNAUTHENTICATED') {
            refused = true;
            onStatus('refused', message.errors[0].message);
            return;
          }
          const event = message.data?.jobEvents;
          if (!event) return;
          cursor = event.cursor;
          onEvent(event);
        },
        error: () => retry(refused),
        complete: () => retry(refused),
      },
    );
  }

  function retry(refused) {
    client?.dispose();
    client = null;
    if (stopped || refused) return;
    attempt += 1;
    const delay = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6)) * (0.75 + Math.random() / 2);
    onStatus('reconnecting');
    timer = setTimeout(connect, delay);
  }

  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      client?.dispose();
    },
    cursor: () => cursor,
  };
}
