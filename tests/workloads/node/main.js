// The node workload: fs, child_process, worker_threads, crypto, a loopback http server, each checked.
'use strict';
const assert = require('assert');
const fs = require('fs');
const fsp = require('fs/promises');
const path = require('path');
const os = require('os');
const cp = require('child_process');
const crypto = require('crypto');
const http = require('http');
const net = require('net');
const dns = require('dns');
const zlib = require('zlib');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

if (!isMainThread) {
  let s = 0;
  for (let i = 0; i < workerData.n; i++) s += i;
  parentPort.postMessage(s);
  return;
}

async function main() {
  // fs: sync, callback, promises, streams, watch
  fs.mkdirSync('out/sub', { recursive: true });
  for (let i = 0; i < 20; i++) fs.writeFileSync(`out/sub/f${i}.txt`, `line ${i}\n`);
  await fsp.writeFile('out/big.txt', 'x'.repeat(1 << 20));
  assert.strictEqual((await fsp.stat('out/big.txt')).size, 1 << 20);
  assert.strictEqual(fs.readdirSync('out/sub').length, 20);
  await fsp.rename('out/sub/f0.txt', 'out/moved.txt');
  await fsp.copyFile('out/moved.txt', 'out/copied.txt');
  fs.symlinkSync('moved.txt', 'out/link');
  assert.strictEqual(fs.readFileSync('out/link', 'utf8'), 'line 0\n');
  await new Promise((resolve, reject) => {
    fs.createReadStream('out/big.txt').pipe(zlib.createGzip()).pipe(fs.createWriteStream('out/big.gz'))
      .on('finish', resolve).on('error', reject);
  });
  assert.ok(zlib.gunzipSync(fs.readFileSync('out/big.gz')).length === 1 << 20);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-'));
  assert.ok(tmp.startsWith('/tmp/wl-'));
  const watched = new Promise((resolve) => {
    const w = fs.watch(tmp, () => { w.close(); resolve(); });
  });
  fs.writeFileSync(path.join(tmp, 'poke'), 'x');
  await watched;
  fs.rmSync(tmp, { recursive: true });
  console.log('fs ok');

  // child_process: execFileSync, spawn with pipes, exec of a shell, fork of a node child
  assert.strictEqual(cp.execFileSync('echo', ['hi']).toString(), 'hi\n');
  const child = cp.spawn('sh', ['-c', 'read x; echo got:$x; exit 4']);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stdin.end('abc\n');
  const code = await new Promise((r) => child.on('close', r));
  assert.strictEqual(code, 4);
  assert.strictEqual(out, 'got:abc\n');
  const r = cp.spawnSync(process.execPath, ['-e', 'process.stdout.write(String(6*7))']);
  assert.strictEqual(r.stdout.toString(), '42');
  console.log('child_process ok');

  // worker_threads
  const sums = await Promise.all([1e5, 2e5, 3e5].map((n) => new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: { n } });
    w.on('message', resolve);
    w.on('error', reject);
  })));
  assert.deepStrictEqual(sums, [4999950000, 19999900000, 44999850000]);
  console.log('worker_threads ok');

  // crypto: hashes, random, pbkdf2 and scrypt on the thread pool, a key pair, a cipher
  assert.strictEqual(crypto.createHash('sha256').update('abc').digest('hex'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.strictEqual(crypto.randomBytes(32).length, 32);
  assert.ok(crypto.randomUUID().length === 36);
  const keys = await Promise.all([0, 1, 2, 3].map((i) => new Promise((res, rej) =>
    crypto.pbkdf2('pw', 'salt' + i, 10000, 32, 'sha256', (e, k) => (e ? rej(e) : res(k))))));
  assert.strictEqual(keys.length, 4);
  await new Promise((res, rej) => crypto.scrypt('pw', 'salt', 32, (e, k) => (e ? rej(e) : res(k))));
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sig = crypto.sign('sha256', Buffer.from('msg'), privateKey);
  assert.ok(crypto.verify('sha256', Buffer.from('msg'), publicKey, sig));
  const key = crypto.randomBytes(32), iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  const enc = Buffer.concat([c.update('secret'), c.final()]);
  const d = crypto.createDecipheriv('aes-256-gcm', key, iv);
  d.setAuthTag(c.getAuthTag());
  assert.strictEqual(Buffer.concat([d.update(enc), d.final()]).toString(), 'secret');
  console.log('crypto ok');

  // a loopback http server and requests to it; dns.lookup of localhost; a raw tcp echo
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (x) => (body += x));
    req.on('end', () => res.end(`${req.method} ${req.url} ${body}`));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const get = (p) => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      let b = '';
      res.on('data', (x) => (b += x));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
  assert.strictEqual(await get('/hello'), 'GET /hello ');
  const posted = await new Promise((resolve, reject) => {
    const req = http.request({ host: 'localhost', port, path: '/p', method: 'POST' }, (res) => {
      let b = '';
      res.on('data', (x) => (b += x));
      res.on('end', () => resolve(b));
    });
    req.on('error', reject);
    req.end('data');
  });
  assert.strictEqual(posted, 'POST /p data');
  server.close();
  const addr = await new Promise((res, rej) => dns.lookup('localhost', (e, a) => (e ? rej(e) : res(a))));
  assert.ok(addr === '127.0.0.1' || addr === '::1', addr);
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise((r) => echo.listen(0, '::1', r));
  const got = await new Promise((resolve, reject) => {
    const s = net.connect(echo.address().port, '::1', () => s.end('ping'));
    let b = '';
    s.on('data', (x) => (b += x)).on('end', () => resolve(b)).on('error', reject);
  });
  assert.strictEqual(got, 'ping');
  echo.close();
  console.log('http ok');

  assert.ok(os.cpus().length >= 1 && os.totalmem() > 0 && os.hostname() === 'brood');
  await new Promise((r) => setTimeout(r, 10));
  console.log('os ok');
}

main().then(() => console.log('WORKLOAD-OK node'), (e) => { console.error('FAIL:', e); process.exit(1); });
