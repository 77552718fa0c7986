/**
 * The pub/sub port: where job events travel. The subset of EventTarget the jobs layer uses; the
 * in-memory EventTarget and Yoga's Redis event target both fit it.
 */
export interface JobEventTarget {
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
  dispatchEvent(event: Event): boolean;
  /**
   * Resolves once events of `type` are really being received (Redis: the SUBSCRIBE is acknowledged).
   * A feed reads the job's current state only after that, so no change can fall between the two.
   */
  listening?(type: string): Promise<void>;
}
