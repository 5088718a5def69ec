// Serve one @vercel/cosmosdb-server endpoint per Cosmos DB account, over TLS
// with the sandbox certificate and keep-alive (the package's CLI closes every
// connection, which makes the Python SDK about 25 times slower).
//
// The server itself takes any key, or none: every request must carry the sandbox's
// upstream secret in config.secret_header, which only the emulator's Cosmos DB proxies
// send (they authenticate clients as Cosmos DB does); anything else gets 401.
//
// Usage: node cosmos_server.js <config.json>
// config: {"module": dir of @vercel/cosmosdb-server, "host": "127.0.0.1",
//          "cert": path, "key": path, "accounts": ["name", ...], "ready_file": path,
//          "secret_file": path (0600), "secret_header": "x-sandbox-upstream",
//          "state_dir": path}
// Writes {"name": port, ...} to ready_file (atomically) once every server listens.
//
// The server keeps its data in memory. On SIGTERM/SIGINT each account's databases,
// containers, documents and user-defined functions are written to state_dir/<name>.json
// (0600, atomically), and loaded back when the account listens again, with their _rid,
// _etag and _ts: `sandbox down` then `sandbox up` gives back the same data.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const { createHttpsServer } = require(config.module);

// Azure keeps a container's documents and user-defined functions when its definition is
// replaced (an indexing policy, a TTL: what ARM's create-or-update PUT does to an existing
// container); the server builds a new, empty collection in its place. Carry them over.
const Collections = require(path.join(config.module, "lib", "account", "collections")).default;
const replaceCollection = Collections.prototype.replace;
Collections.prototype.replace = function (data, original) {
  const before = this._data.get(original._rid);
  const result = replaceCollection.call(this, data, original);
  const after = this._data.get(original._rid);
  if (before && after && before !== after) {
    for (const store of ["documents", "userDefinedFunctions"]) {
      after[store] = before[store];
      after[store]._parent = after;
    }
  }
  return result;
};

// A container read whole, page by page ("SELECT * FROM c" with a page size: how the
// plugin, verify and the benchmark's contenders read one), cost the server every document
// for every page: it evaluates the query over the whole container, then cuts the page after
// the continuation's _rid. O(n) a page is O(n²) a container (the 100x benchmark's 180,000
// documents took hours), where Azure serves each page from its index. Pages are cut from a
// list of the container's documents kept until it changes, found by the continuation's
// _rid in a map; order and continuation are the package's, so a page whose _rid is gone
// (deleted meanwhile) is served by the package's own evaluation, as before.
const Items = require(path.join(config.module, "lib", "account", "items")).default;
const tokens = require(require.resolve("@zeit/cosmosdb-query/lib/continuation-token", {
  paths: [config.module],
}));
const WHOLE = /^\s*select\s+\*\s+from\s+(\w+)\s*$/i;
// A container's document count ("SELECT VALUE COUNT(1) FROM c": how the plugin sizes a
// target and discovery sizes a source) is what the container holds, where the package's
// aggregate took minutes over the 100x benchmark's 183,000 documents, its server at 100 %.
const COUNT = /^\s*select\s+value\s+count\(\s*1\s*\)\s+from\s+(\w+)\s*$/i;
const getValue = require(path.join(config.module, "lib", "utils", "get-value")).default;
// the package's order: it sorts every result by _rid, compared as strings
const byRid = (a, b) => (a._rid === b._rid ? 0 : a._rid < b._rid ? -1 : 1);
for (const name of ["_set", "delete"]) {
  const original = Items.prototype[name];
  Items.prototype[name] = function (...args) {
    this._whole = null; // any write ends the kept list
    return original.apply(this, args);
  };
}
// Reading many documents by id (azure-cosmos' read_items: a query of ids, with their
// partition key values, per partition key range) was a full scan too, per call: the
// plugin looks a large target up a page at a time. Each (id, partition key) is found in
// the package's own id index instead, as Azure serves a point read.
const FIELD = String.raw`c(?:\.(\w+)|\["([^"\]]+)"\])`;
const TERM = String.raw`\(\s*c\.id\s*=\s*(@param_id\d+)\s+AND\s+${FIELD}\s*=\s*(@param_pk\d+)\s*\)`;
const BY_ID_AND_KEY = new RegExp(
  String.raw`^\s*SELECT \* FROM c WHERE \(\s*${TERM}(?:\s+OR\s+${TERM})*\s*\)\s*$`, "i");
const TERMS = new RegExp(TERM, "gi");
const IDS = String.raw`\(\s*(@(?:param_)?id\d+(?:\s*,\s*@(?:param_)?id\d+)*)\s*\)`;
const BY_ID = new RegExp(String.raw`^\s*SELECT \* FROM c WHERE c\.id IN ${IDS}\s*$`, "i");
const BY_KEY_THEN_IDS = new RegExp(
  String.raw`^\s*SELECT \* FROM c WHERE ${FIELD}\s*=\s*@pk\s+AND\s+c\.id IN ${IDS}\s*$`, "i");

function wanted(params, keyPaths) {
  // [[id, partition key value], ...] the query asks for, or null: not a read of many
  const text = params.query || "";
  const values = new Map((params.parameters || []).map((p) => [p.name, p.value]));
  if (keyPaths.length !== 1 || keyPaths[0].split("/").length !== 2) return null;
  const key = keyPaths[0].slice(1); // the field the partition key is
  const all = (names) => (names.every((n) => values.has(n)) ? names : null);
  const listed = (names) => all(names.split(",").map((n) => n.trim()));
  if (BY_ID_AND_KEY.test(text)) {
    const terms = [...text.matchAll(TERMS)];
    if (!terms.every((m) => (m[2] || m[3]) === key)) return null;
    if (!all(terms.flatMap((m) => [m[1], m[4]]))) return null;
    return terms.map((m) => [values.get(m[1]), values.get(m[4])]);
  }
  const sameKey = BY_KEY_THEN_IDS.exec(text);
  if (sameKey && (sameKey[1] || sameKey[2]) === key && values.has("@pk")) {
    const names = listed(sameKey[3]);
    return names && names.map((n) => [values.get(n), values.get("@pk")]);
  }
  const byId = BY_ID.exec(text);
  if (byId && key === "id") {
    const names = listed(byId[1]);
    return names && names.map((n) => [values.get(n), values.get(n)]);
  }
  return null;
}

const query = Items.prototype.query;
Items.prototype.query = function (params, options) {
  const { maxItemCount, continuation } = options || {};
  const parent = this._parent.read();
  const keyPaths = ((parent && parent.partitionKey) || {}).paths || [];
  const asked = parent && !continuation ? wanted(params, keyPaths) : null;
  if (asked) {
    const keyPath = this._getPartitionKeyPath();
    const found = new Map();
    for (const [id, key] of asked) {
      const document = this._item("/id", id, key).read();
      if (document && document.id === id && getValue(keyPath, document) === key) {
        found.set(document._rid, document);
      }
    }
    const result = [...found.values()].sort(byRid);
    if (!(maxItemCount > 0) || result.length <= maxItemCount) {
      return { result, continuation: null };
    }
  }
  if (COUNT.test(params.query || "") && !(params.parameters || []).length && parent) {
    return { result: [this._data.size], continuation: null };
  }
  const plain = WHOLE.test(params.query || "") && !(params.parameters || []).length;
  if (!plain || !(maxItemCount > 0) || !parent) {
    return query.call(this, params, options);
  }
  if (!this._whole) {
    // in the package's order, so that a continuation means the same to both
    const documents = [...this._data.values()].map((item) => item.read()).sort(byRid);
    this._whole = { documents, at: new Map(documents.map((d, i) => [d._rid, i])) };
  }
  const { documents, at } = this._whole;
  const token = continuation ? tokens.decode(continuation.token) : null;
  const start = token ? at.get(token.RID) : 0;
  if (start === undefined) return query.call(this, params, options);
  const end = start + maxItemCount;
  const next = end < documents.length
    ? {
      token: tokens.encode({
        RID: documents[end]._rid,
        RT: (token ? token.RT : 0) + 1,
        TRC: (token ? token.TRC : 0) + maxItemCount,
      }),
      range: { min: "", max: "FF" },
    }
    : null;
  return { result: documents.slice(start, end), continuation: next };
};

// A container's read feed (azure-cosmos' read_all_items: GET .../docs by pages) is the
// same whole-container read as "SELECT * FROM c" and was the same O(n) a page in the
// package: served by the same kept list, with the same continuations.
Items.prototype.read = function ({ maxItemCount, continuation } = {}) {
  return this.query({ query: "SELECT * FROM c" }, { maxItemCount, continuation });
};

// Each account the server makes (on "listening"), by port: what the state is dumped from.
const accountModule = require(path.join(config.module, "lib", "account"));
const BaseAccount = accountModule.default;
const accountsByPort = new Map();
accountModule.default = class extends BaseAccount {
  constructor(host, port) {
    super(host, port);
    accountsByPort.set(port, this);
  }
};

const values = (items) => [...items._data.values()].map((item) => item.read());

function dump(account) {
  const databases = account.databases;
  return {
    ridCount: databases._ridCount,
    databases: [...databases._data.values()].map((db) => ({
      data: db.read(),
      ridCount: db.collections._ridCount,
      collections: [...db.collections._data.values()].map((coll) => ({
        data: coll.read(),
        documents: values(coll.documents),
        documentsRidCount: coll.documents._ridCount,
        udfs: values(coll.userDefinedFunctions),
        udfsRidCount: coll.userDefinedFunctions._ridCount,
      })),
    })),
  };
}

function load(account, state) {
  const databases = account.databases;
  for (const db of state.databases) {
    databases._set(db.data);
    const database = databases._data.get(db.data._rid);
    for (const coll of db.collections) {
      database.collections._set(coll.data);
      const collection = database.collections._data.get(coll.data._rid);
      for (const doc of coll.documents) collection.documents._set(doc);
      for (const udf of coll.udfs) collection.userDefinedFunctions._set(udf);
      collection.documents._ridCount = coll.documentsRidCount;
      collection.userDefinedFunctions._ridCount = coll.udfsRidCount;
    }
    database.collections._ridCount = db.ridCount;
  }
  databases._ridCount = state.ridCount;
}

const stateFile = (name) => path.join(config.state_dir, `${name}.json`);

function restore(name, port) {
  const file = stateFile(name);
  if (!config.state_dir || !fs.existsSync(file)) return;
  load(accountsByPort.get(port), JSON.parse(fs.readFileSync(file, "utf8")));
}

function save() {
  if (!config.state_dir) return;
  fs.mkdirSync(config.state_dir, { recursive: true, mode: 0o700 });
  for (const [name, port] of Object.entries(ports)) {
    const account = accountsByPort.get(port);
    if (!account) continue;
    const tmp = stateFile(name) + ".tmp";
    fs.writeFileSync(tmp, JSON.stringify(dump(account)), { mode: 0o600 });
    fs.renameSync(tmp, stateFile(name));
  }
}

const header = config.secret_header.toLowerCase();
const sha256 = (text) => crypto.createHash("sha256").update(text, "utf8").digest();
const secretDigest = sha256(fs.readFileSync(config.secret_file, "utf8").trim());

function authorized(req) {
  // Digests have one length, so timingSafeEqual compares in constant time whatever was sent.
  const given = req.headers[header];
  return typeof given === "string" && crypto.timingSafeEqual(sha256(given), secretDigest);
}

function refuse(res) {
  const activity = crypto.randomUUID();
  const body = JSON.stringify({
    code: "Unauthorized",
    message: "This server takes requests only through the sandbox's Cosmos DB proxies "
      + "(see emulator.json).\r\nActivityId: " + activity,
  });
  res.writeHead(401, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "x-ms-activity-id": activity,
  });
  res.end(body);
}

// createHttpsServer installs its handler as the "request" listener: put the check before it.
function guard(server) {
  const handlers = server.listeners("request");
  server.removeAllListeners("request");
  server.on("request", (req, res) => {
    if (!authorized(req)) return refuse(res);
    for (const handler of handlers) handler.call(server, req, res);
  });
}

const tls = {
  cert: fs.readFileSync(config.cert),
  key: fs.readFileSync(config.key),
  keepAlive: true,
};

const servers = [];
const ports = {};

function listen(name) {
  return new Promise((resolve, reject) => {
    const server = createHttpsServer(tls);
    guard(server);
    server.keepAliveTimeout = 60000;
    server.on("error", reject);
    server.listen(0, config.host, () => {
      ports[name] = server.address().port;
      try {
        restore(name, ports[name]);
      } catch (err) {
        reject(new Error(`cannot load the saved state of ${name}: ${err.message}`));
        return;
      }
      resolve();
    });
    servers.push(server);
  });
}

function shutdown() {
  try {
    save();
  } catch (err) {
    console.error(`cosmos server could not save its state: ${err.message}`);
  }
  for (const server of servers) {
    server.close();
    if (server.closeAllConnections) server.closeAllConnections();
  }
  setTimeout(() => process.exit(0), 200).unref();
}

process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

Promise.all(config.accounts.map(listen))
  .then(() => {
    const tmp = config.ready_file + ".tmp";
    fs.writeFileSync(tmp, JSON.stringify(ports));
    fs.renameSync(tmp, config.ready_file);
    console.log(`cosmos accounts listening: ${Object.keys(ports).length}`);
  })
  .catch((err) => {
    console.error(`cosmos server failed to start: ${err.message}`);
    process.exit(1);
  });
