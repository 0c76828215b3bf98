import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends bytes as they are (no client-side header validation, unlike fetch), for ids with CR/LF or raw UTF-8,
 * and returns the parsed response. The request must say `Connection: close`. `later` is sent `afterMs` after
 * `request`: a body that arrives once the app is already waiting for it.
 */
export function rawRequest(
  port: number,
  request: Buffer,
  later?: { bytes: Buffer; afterMs: number },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // write, not end: a half-closed socket may be dropped before a slow app answers.
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(request);
      if (later) setTimeout(() => socket.write(later.bytes), later.afterMs);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = text.slice(0, headEnd < 0 ? text.length : headEnd).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: headEnd < 0 ? '' : text.slice(headEnd + 4) });
    });
  });
}

/** Opens a request, sends its head and `partialBody`, and destroys the socket after `afterMs`. */
export function abortedRequest(port: number, head: string, partialBody: string, afterMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(head + partialBody);
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, afterMs);
    });
    socket.on('error', reject);
  });
}

/** Sends a request and destroys the socket once `ready()` (polled) says so, e.g. once its change is committed. */
export function abortedAfter(port: number, request: string, ready: () => Promise<boolean>): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(request);
      const poll = (): void => {
        ready().then((yes) => {
          if (!yes) {
            setTimeout(poll, 5);
            return;
          }
          socket.destroy();
          resolve();
        }, reject);
      };
      poll();
    });
    socket.on('error', reject);
  });
}
