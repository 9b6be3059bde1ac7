// The field's broker: Mosca 2.8.3 on the patched mqtt-connection / mqtt-packet, with the custom handshake in
// its authenticate hook as the write-up does it. CONNECT -> authenticate (challenge: the millisecond clock as
// the field sends it, in the password) -> the device's authenticate -> the verdict (CONNACK 0, else 5).
// The response must name the CONNECT's client id; either custom code is read as authenticate.
//
//   node mosca-broker.js PORT CODE SECRETS_FILE LOG_FILE
// Prints "listening on 127.0.0.1:PORT" when ready; LOG_FILE gets one JSON line per handshake:
//   {"client_id":..., "code":..., "verdict":"accepted"|"refused", "why":...}
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const mosca = require('mosca');

const [port, code, secretsFile, logFile] = process.argv.slice(2);
if (!logFile) {
  console.error('usage: node mosca-broker.js PORT CODE SECRETS_FILE LOG_FILE');
  process.exit(2);
}
const authCode = Number(code);
const secrets = new Map();
for (const line of fs.readFileSync(secretsFile, 'utf8').split('\n')) {
  const m = line.match(/^\s*([^#\s]\S*)\s+(.*\S)\s*$/);
  if (m) secrets.set(m[1], m[2]);
}
const log = (o) => fs.appendFileSync(logFile, JSON.stringify(o) + '\n');

const server = new mosca.Server({host: '127.0.0.1', port: Number(port), persistence: {factory: mosca.persistence.Memory}});

server.authenticate = (client, username, password, callback) => {
  const conn = client.connection;
  const challenge = String(Date.now());
  let done = false;
  const verdict = (ok, why, got) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    log({client_id: client.id, code: got === undefined ? null : got, verdict: ok ? 'accepted' : 'refused', why});
    callback(null, ok);
  };
  const timer = setTimeout(() => verdict(false, 'no response'), 10000);
  conn.once('authenticate', (p) => {
    if (p.clientId !== client.id) return verdict(false, 'client id mismatch', p.authCode);
    const secret = secrets.get(client.id);
    if (secret === undefined) return verdict(false, 'no secret', p.authCode);
    const want = crypto.createHmac('sha256', secret).update(challenge).digest('hex');
    const got = p.password ? p.password.toString() : '';
    verdict(got === want, got === want ? 'verified' : 'wrong response', p.authCode);
  });
  conn.authenticate({clientId: client.id, password: Buffer.from(challenge), authCode});
};

server.on('ready', () => console.log(`listening on 127.0.0.1:${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
