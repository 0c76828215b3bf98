import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { tapRequestBody } from '../src/bodies/body-tap.js';

/** Sends `body` to a server whose handler reads it in `encoding` (or as bytes); returns what the tap kept. */
async function tappedWhileRead(body: Buffer, encoding: BufferEncoding | undefined): Promise<Buffer> {
  const kept = Promise.withResolvers<Buffer>();
  const server = createServer((req, res) => {
    const capture = tapRequestBody(req, 1024);
    if (encoding !== undefined) req.setEncoding(encoding);
    req.on('data', () => {});
    req.on('end', () => {
      kept.resolve(capture.content());
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: body });
    return await kept.promise;
  } finally {
    server.close();
  }
}

describe('the request body tap', () => {
  // Bytes that are not UTF-8, and a length that is no multiple of 3 (base64's unit).
  const sent = Buffer.from([0xff, 0x00, 0xfe, 0x41, 0x42, 0xc3, 0xa9, 0x80, 0x0a, 0x7f]);

  it.each([
    ['as bytes', undefined],
    ['as base64', 'base64'],
    ['as hex', 'hex'],
    ['as latin1', 'latin1'],
    ['as UTF-16', 'utf16le'],
  ] as const)('keeps the bytes sent when the application reads them %s', async (_how, encoding) => {
    // Before, a stream given an encoding had its text kept as if it were the body: base64 text stored instead.
    expect(await tappedWhileRead(sent, encoding)).toEqual(sent);
  });

  it('keeps UTF-8 text read as UTF-8', async () => {
    const text = Buffer.from('{"name":"Zoë ✓"}');
    expect(await tappedWhileRead(text, 'utf8')).toEqual(text);
  });
});
