// A stock client, MQTT.js (current, from npm), over WebSocket or TLS: connects to URL (ws://HOST:PORT/PATH,
// wss://..., mqtts://HOST:PORT; a self-signed server certificate is accepted), subscribes
// to a topic at QoS 2, publishes one message of each given size (QoS 0, 1, 2 in turn) and waits for them all to
// come back, then disconnects. MQTT.js writes each packet over WebSocket in pieces (fixed header, then its parts,
// each its own WebSocket message), so a packet spans several frames.
//
//   node [--tls-keylog=FILE] mqttjs-ws.js URL CLIENT_ID --version 3|4|5 --sizes N,N,... [--tls-max 1.2|1.3]
// Prints one JSON line per MQTT packet it sent or received, as MQTT.js saw it: {"dir": "c2s"|"s2c", "cmd",
// "topic", "qos", "messageId", "payload_len"}, then {"outcome": "roundtrip"|"timeout"|"error"}. Exit code 0 on a
// round trip (never a hang: 15 s at most).
'use strict';
const mqtt = require('mqtt');

const args = process.argv.slice(2);
const [url, clientId] = args;
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const version = Number(opt('--version', '4'));
const sizes = opt('--sizes', '10').split(',').map(Number);
const tlsMax = opt('--tls-max', '1.3');

const client = mqtt.connect(url, {clientId, protocolVersion: version, protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
                                  reconnectPeriod: 0, connectTimeout: 5000, clean: true,
                                  rejectUnauthorized: false, maxVersion: `TLSv${tlsMax}`,
                                  // (over WebSocket the TLS options go to the ws module's connection)
                                  wsOptions: {rejectUnauthorized: false, maxVersion: `TLSv${tlsMax}`}});
const log = (dir, p) => console.log(JSON.stringify({
  dir, cmd: p.cmd, topic: p.topic === undefined ? null : p.topic, qos: p.qos === undefined ? null : p.qos,
  messageId: p.messageId === undefined ? null : p.messageId,
  payload_len: p.payload === undefined || p.payload === null ? null : Buffer.byteLength(p.payload)}));
client.on('packetsend', (p) => log('c2s', p));
client.on('packetreceive', (p) => log('s2c', p));

let done = false;
function end(outcome, message) {
  if (done) return;
  done = true;
  client.end(false, () => {
    console.log(JSON.stringify({outcome, message: String(message || '')}));
    setTimeout(() => process.exit(outcome === 'roundtrip' ? 0 : 1), 200);
  });
  setTimeout(() => process.exit(1), 3000);
}
setTimeout(() => end('timeout', 'no result in 15 s'), 15000);

const topic = `ws/${clientId}`;
let received = 0;
client.on('connect', () => {
  client.subscribe(topic, {qos: 2}, (err) => {
    if (err) return end('error', err.message);
    sizes.forEach((n, i) => client.publish(topic, Buffer.alloc(n, 0x41 + (i % 26)), {qos: i % 3}));
  });
});
client.on('message', () => {
  if (++received === sizes.length) setTimeout(() => end('roundtrip', 'published and received'), 300);
});
client.on('error', (err) => end('error', err.message));
