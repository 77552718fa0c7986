/**
 * The result video the simulator serves at `/files/{id}/output.mp4`.
 */
import type { ServerResponse } from 'node:http';

/** A small fixed payload that starts like an MP4 (ftyp box) but is not playable. */
export const FAKE_VIDEO: Buffer = Buffer.concat([
  Buffer.from([0, 0, 0, 0x20]),
  Buffer.from('ftypisom'),
  Buffer.from([0, 0, 2, 0]),
  Buffer.from('isomiso2avc1mp41'),
  Buffer.from([0, 0, 1, 0x28]),
  Buffer.from('free'),
  Buffer.from('fal-simulator placeholder video. '.repeat(9).slice(0, 288)),
]);

export function serveVideo(res: ServerResponse, method: string): void {
  res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(FAKE_VIDEO.length) });
  res.end(method === 'HEAD' ? undefined : FAKE_VIDEO);
}
