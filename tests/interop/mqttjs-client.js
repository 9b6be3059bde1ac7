// A stock client, MQTT.js (current, from npm): connects, subscribes to a topic, publishes to it at QoS 1 and
// waits for the message to come back, then ends. With --secret it uses MQTT 5 enhanced authentication with the
// method HMAC-SHA256 (AUTH 0x18 answered with hex HMAC-SHA256(secret, challenge)), MQTT.js's handleAuth.
//
//   node mqttjs-client.js HOST:PORT CLIENT_ID --version 3|4|5 [--secret SECRET]
// Prints one JSON line: {"outcome": "roundtrip" | "refused" | "error" | "timeout", "code": CONNACK reason or
// null, "message": ...}. Exit code 0 on a round trip, 1 otherwise (never a hang: 8 s at most).
'use strict';
const crypto = require('crypto');
const mqtt = require('mqtt');

const args = process.argv.slice(2);
const [addr, clientId] = args;
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const version = Number(opt('--version', '4'));
const secret = opt('--secret', null);

const options = {clientId, protocolVersion: version, protocolId: version === 3 ? 'MQIsdp' : 'MQTT', reconnectPeriod: 0,
                 connectTimeout: 5000, clean: true};
if (secret !== null) options.properties = {authenticationMethod: 'HMAC-SHA256'};
const client = mqtt.connect(`mqtt://${addr}`, options);
if (secret !== null) {
  client.handleAuth = (packet, callback) => {
    const challenge = packet.properties && packet.properties.authenticationData;
    const response = crypto.createHmac('sha256', secret).update(challenge || Buffer.alloc(0)).digest('hex');
    callback(null, {cmd: 'auth', reasonCode: 0x18,
                    properties: {authenticationMethod: 'HMAC-SHA256', authenticationData: Buffer.from(response)}});
  };
}

let done = false;
function end(outcome, code, message) {
  if (done) return;
  done = true;
  console.log(JSON.stringify({outcome, code: code === undefined ? null : code, message: String(message || '')}));
  client.end(true, () => process.exit(outcome === 'roundtrip' ? 0 : 1));
  setTimeout(() => process.exit(outcome === 'roundtrip' ? 0 : 1), 500);
}
setTimeout(() => end('timeout', null, 'no result in 8 s'), 8000);

const topic = `interop/${clientId}`;
client.on('connect', () => {
  client.subscribe(topic, {qos: 1}, (err) => {
    if (err) return end('error', null, err.message);
    client.publish(topic, 'hello', {qos: 1});
  });
});
client.on('message', (t, payload) => {
  if (t === topic && payload.toString() === 'hello') end('roundtrip', 0, 'published and received');
});
client.on('error', (err) => end(err.code !== undefined && typeof err.code === 'number' ? 'refused' : 'error',
                                typeof err.code === 'number' ? err.code : null, err.message));
client.on('close', () => end('error', null, 'connection closed'));
