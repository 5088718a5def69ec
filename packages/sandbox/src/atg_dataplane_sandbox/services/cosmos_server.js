// Serve one @vercel/cosmosdb-server endpoint per Cosmos DB account, over TLS
// with the sandbox certificate and keep-alive (the package's CLI closes every
// connection, which makes the Python SDK about 25 times slower).
//
// Usage: node cosmos_server.js <config.json>
// config: {"module": dir of @vercel/cosmosdb-server, "host": "127.0.0.1",
//          "cert": path, "key": path, "accounts": ["name", ...], "ready_file": path}
// Writes {"name": port, ...} to ready_file (atomically) once every server listens.
"use strict";

const fs = require("fs");
const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const { createHttpsServer } = require(config.module);

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
    server.keepAliveTimeout = 60000;
    server.on("error", reject);
    server.listen(0, config.host, () => {
      ports[name] = server.address().port;
      resolve();
    });
    servers.push(server);
  });
}

function shutdown() {
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
