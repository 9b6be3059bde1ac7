// Patches an npm install of Mosca 2.8.3 (mqtt-connection 2.1, mqtt-packet 3.5) the way the field did (the
// write-up in the project's seed: a reserved packet type becomes `authenticate`, with the body of CONNECT):
//   mqtt-packet constants.js  types 0 and 15 are 'authenticate' (the write-up: either works; both occur)
//   mqtt-packet generate.js   generate({cmd: 'authenticate', authCode: 0|15, clientId, password, ...}): a
//                             CONNECT body under the authenticate type (authCode, default 0)
//   mqtt-packet parser.js     an authenticate packet is parsed like CONNECT; packet.authCode is its type
//   mqtt-connection           connection.authenticate(opts) sends one; 'authenticate' events arrive
// Written for this project from the write-up's description; idempotent (a patched file is left alone).
//
//   node patch-field-stack.js NODE_MODULES_DIR
'use strict';
const fs = require('fs');
const path = require('path');

const root = process.argv[2];
if (!root) {
  console.error('usage: node patch-field-stack.js NODE_MODULES_DIR');
  process.exit(2);
}

const MARK = '/* mqttauth field patch */';

function patch(file, edits) {
  let text = fs.readFileSync(file, 'utf8');
  if (text.includes(MARK)) return false;
  for (const [from, to] of edits) {
    if (!text.includes(from)) throw new Error(`${file}: cannot find ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  fs.writeFileSync(file, MARK + '\n' + text);
  return true;
}

// Every copy of a package under root (npm may nest them).
function copies(name) {
  const out = [];
  (function walk(dir, depth) {
    if (depth > 6 || !fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === name && fs.existsSync(path.join(p, 'package.json'))) out.push(p);
      if (e.name === 'node_modules' || depth === 0 || e.name === name) walk(p, depth + 1);
      else if (fs.existsSync(path.join(p, 'node_modules'))) walk(path.join(p, 'node_modules'), depth + 1);
    }
  })(root, 0);
  return out;
}

const packets = copies('mqtt-packet');
const connections = copies('mqtt-connection');
if (packets.length === 0 || connections.length === 0) {
  console.error(`patch-field-stack: no mqtt-packet or mqtt-connection under ${root}`);
  process.exit(1);
}

for (const dir of packets) {
  patch(path.join(dir, 'constants.js'), [
    ["0: 'reserved',", "0: 'authenticate',"],
    ["15: 'reserved'", "15: 'authenticate'"],
  ]);
  patch(path.join(dir, 'generate.js'), [
    ["    case 'connect':\n      return connect(packet)",
     "    case 'connect':\n      return connect(packet)\n    case 'authenticate':\n      return authenticate(packet)"],
    ['function connect(opts) {',
     '// The field\'s authenticate packet: a CONNECT body (no will) under type authCode (0 or 15).\n' +
     'function authenticate(opts) {\n' +
     '  var code = opts.authCode === undefined ? 0 : opts.authCode\n' +
     '  if (code !== 0 && code !== 15) throw new Error(\'Invalid authenticate code\')\n' +
     '  var body = {}\n' +
     '  for (var k in opts) body[k] = opts[k]\n' +
     '  body.cmd = \'connect\'\n' +
     '  body.will = undefined\n' +
     '  var buffer = connect(body)\n' +
     '  buffer.writeUInt8(code << protocol.CMD_SHIFT, 0, true)\n' +
     '  return buffer\n' +
     '}\n\n' +
     'function connect(opts) {'],
  ]);
  patch(path.join(dir, 'parser.js'), [
    ['  this.packet.cmd = constants.types[zero >> constants.CMD_SHIFT]\n',
     '  this.packet.cmd = constants.types[zero >> constants.CMD_SHIFT]\n' +
     "  if (this.packet.cmd === 'authenticate') this.packet.authCode = zero >> constants.CMD_SHIFT\n"],
    ["      case 'connect':\n        this._parseConnect()\n        break",
     "      case 'connect':\n      case 'authenticate':\n        this._parseConnect()\n        break"],
  ]);
}
for (const dir of connections) {
  patch(path.join(dir, 'connection.js'), [["  'disconnect'].forEach(", "  'disconnect',\n  'authenticate'].forEach("]]);
}
console.log(`patched ${packets.length} mqtt-packet and ${connections.length} mqtt-connection`);
