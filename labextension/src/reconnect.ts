/**
 * Notice when the event bus websocket was lost, so that the panel can
 * re-fetch what it may have missed once the connection is back.
 *
 * JupyterLab's EventManager exposes no connection status; its private poll
 * emits a `rejected` tick whenever the socket closes and retries after that
 * tick's interval. We wait that interval (plus a margin for the new socket
 * to open) and then call back. Without that poll we fall back to the
 * browser's `online` event only.
 */

interface ITickState {
  phase: string;
  interval: number;
}

interface ITickSignal {
  connect(slot: (sender: unknown, state: ITickState) => void): boolean;
  disconnect(slot: (sender: unknown, state: ITickState) => void): boolean;
}

/** The margin after the poll's retry before calling back, in ms. */
const MARGIN = 1500;

/** Call `callback` after each reconnection; returns a disposer. */
export function onReconnect(events: unknown, callback: () => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = (delay: number) => {
    clearTimeout(timer);
    timer = setTimeout(callback, Math.max(0, delay) + MARGIN);
  };
  const ticked = (events as { _poll?: { ticked?: ITickSignal } } | null)?._poll
    ?.ticked;
  const slot = (_: unknown, state: ITickState) => {
    if (state?.phase === 'rejected') {
      schedule(typeof state.interval === 'number' ? state.interval : 1000);
    }
  };
  if (ticked && typeof ticked.connect === 'function') {
    ticked.connect(slot);
  }
  const online = () => schedule(0);
  if (typeof window !== 'undefined') {
    window.addEventListener('online', online);
  }
  return () => {
    clearTimeout(timer);
    ticked?.disconnect(slot);
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', online);
    }
  };
}
