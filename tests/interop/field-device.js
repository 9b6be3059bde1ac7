// A device built on the field's patched mqtt-connection: CONNECT, answer the authenticate challenge with
// hex HMAC-SHA256(secret, challenge) under the challenge's code (or --code), then subscribe to
// devices/ID/cmd, publish telemetry at QoS 1, answer commands on devices/ID/reply, and disconnect.
//
//   node field-device.js HOST:PORT CLIENT_ID SECRET [--code 0|15] [--publish N] [--wait-commands N]
//                        [--command ID=TEXT] [--wrong-secret] [--log FILE]
// Exit codes as `mqttauth device`: 0 accepted and done, 3 refused, 4 timeout or closed during the handshake,
// 6 connection failure. The log gets one JSON line: {"client_id", "challenge_code", "response_code",
// "connack", "published", "commands_answered", "replies"}.
'use strict';
const fs = require('fs');
const net = require('net');
const crypto = require('crypto');
const Connection = require('mqtt-connection');

const args = process.argv.slice(2);
const [addr, clientId, secret] = args;
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const publishN = Number(opt('--publish', '0'));
const waitCommands = Number(opt('--wait-commands', '0'));
const command = opt('--command', null);
const forcedCode = opt('--code', null);
const wrong = args.includes('--wrong-secret');
const logFile = opt('--log', null);
const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];

const result = {client_id: clientId, challenge_code: null, response_code: null, connack: null, published: 0,
                commands_answered: 0, replies: 0};
let finished = false;
function finish(rc) {
  if (finished) return;
  finished = true;
  if (logFile) fs.appendFileSync(logFile, JSON.stringify(result) + '\n');
  process.exitCode = rc;
  // End through the connection so that what it still has to write (DISCONNECT) goes out first.
  conn.end();
  setTimeout(() => process.exit(rc), 300);
}

const stream = net.connect(port, host);
const conn = new Connection(stream);
conn.on('error', () => finish(6));
const timer = setTimeout(() => finish(4), 10000);
stream.on('error', () => finish(6));
stream.on('close', () => finish(result.connack === null ? 4 : 6));

let nextId = 1;
const acked = new Map();  // message id -> resolve
const publish = (topic, payload) => new Promise((resolve) => {
  const id = nextId++;
  acked.set(id, resolve);
  conn.publish({topic, payload, qos: 1, messageId: id});
});
conn.on('puback', (p) => {
  const r = acked.get(p.messageId);
  acked.delete(p.messageId);
  if (r) r();
});

stream.on('connect', () => conn.connect({protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 60}));
conn.on('authenticate', (p) => {
  result.challenge_code = p.authCode;
  const code = forcedCode === null ? p.authCode : Number(forcedCode);
  result.response_code = code;
  const response = crypto.createHmac('sha256', wrong ? secret + '-wrong' : secret)
                       .update(p.password ? p.password.toString() : '').digest('hex');
  conn.authenticate({clientId, password: Buffer.from(response), authCode: code});
});

let commandsWanted = waitCommands;
let repliesWanted = command ? 1 : 0;
let published = false;
function maybeDone() {
  if (published && result.commands_answered >= commandsWanted && result.replies >= repliesWanted) {
    clearTimeout(timer);
    conn.disconnect();
    finish(0);
  }
}
conn.on('publish', async (p) => {
  if (p.qos === 1) conn.puback({messageId: p.messageId});
  if (p.topic === `devices/${clientId}/cmd`) {
    await publish(`devices/${clientId}/reply`, 'ok ' + p.payload.toString());
    ++result.commands_answered;
  } else if (p.topic.endsWith('/reply')) {
    ++result.replies;
  }
  maybeDone();
});
conn.on('suback', async () => {
  if (command) {
    const eq = command.indexOf('=');
    await publish(`devices/${command.slice(0, eq)}/cmd`, command.slice(eq + 1));
  }
  for (let i = 1; i <= publishN; ++i) {
    await publish(`devices/${clientId}/telemetry`, JSON.stringify({seq: i, temp: 20.5}));
    ++result.published;
  }
  published = true;
  maybeDone();
});
conn.on('connack', (p) => {
  result.connack = p.returnCode;
  if (p.returnCode !== 0) {
    clearTimeout(timer);
    return finish(3);
  }
  const subscriptions = [{topic: `devices/${clientId}/cmd`, qos: 1}];
  if (command) subscriptions.push({topic: `devices/${command.slice(0, command.indexOf('='))}/reply`, qos: 1});
  conn.subscribe({messageId: nextId++, subscriptions});
});
