// P3 peer: the smallest honest SSE fan-out in Node. One LISTEN connection hears
// `NOTIFY chronicle_events` ("account:sequence", sent by Chronicle's commits, followed by
// the commit's items when small — unused here: the peer reads the row); for each,
// it reads the new activity rows once and broadcasts each as an `activity` event with
// `id: <sequence>` to every connected client (better-sse channel). No auth, no scopes:
// the floor of what a live feed has to do.
//   DATABASE_URL=postgres://… PORT=3950 node server.js
import http from "node:http";
import pg from "pg";
import { createChannel, createSession } from "better-sse";

const channel = createChannel();
const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
const listen = new pg.Client({ connectionString: process.env.DATABASE_URL });
await db.connect();
await listen.connect();
const readUpTo = new Map();

let queue = Promise.resolve();
listen.on("notification", (msg) => {
  const [account, seq] = msg.payload.split(":");
  const last = Number(seq);
  queue = queue.then(async () => {
    const from = readUpTo.get(account) ?? last - 1;
    if (last <= from) return;
    const { rows } = await db.query(
      `SELECT a.sequence, a.event_type, e.actor_name, e.data, a.created_at
         FROM activities a JOIN events e ON e.account_id = a.account_id AND e.sequence = a.sequence
        WHERE a.account_id = $1 AND a.sequence > $2 ORDER BY a.sequence`,
      [account, from],
    );
    readUpTo.set(account, last);
    for (const row of rows) {
      channel.broadcast(row, "activity", { eventId: String(row.sequence) });
    }
  });
});
await listen.query("LISTEN chronicle_events");

const port = Number(process.env.PORT ?? 3950);
http
  .createServer(async (req, res) => {
    if (req.url.startsWith("/events")) {
      const session = await createSession(req, res, { keepAlive: 15_000 });
      channel.register(session);
    } else {
      res.writeHead(404).end();
    }
  })
  .listen(port, "127.0.0.1", () => console.log(`better-sse peer on ${port}`));
