"""Seeds chat sessions for scripts/fuzz-api.sh: asks questions over the real WebSocket (the
only way sessions are made) and prints the new sessions' ids, one a line.

Usage: python fuzz_seed.py BASE_URL ACCESS_TOKEN COUNT
Needs the `websockets` package (installed by fuzz-api.sh into its virtualenv).
"""

import asyncio
import json
import sys

import websockets

QUESTIONS = [
    ("How should I start running?", "fitness_plan"),
    ("What should I eat before a long walk?", "nutrition"),
    ("How many hours should I sleep?", "sleep"),
]


async def ask(socket, message, message_type, session_id=None):
    frame = {"message": message, "message_type": message_type}
    if session_id:
        frame["session_id"] = session_id
    await socket.send(json.dumps(frame))
    while True:
        reply = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
        if reply.get("type") == "response":
            return reply["session_id"]
        if reply.get("type") == "error":
            raise SystemExit(f"fuzz_seed: the server refused the question: {reply}")


async def main(base, token, count):
    url = base.replace("http://", "ws://", 1) + "/chat/ws?token=" + token
    async with websockets.connect(url, max_size=2**20) as socket:
        first = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        if first.get("type") != "connected":
            raise SystemExit(f"fuzz_seed: expected `connected`, got {first}")
        for i in range(count):
            message, message_type = QUESTIONS[i % len(QUESTIONS)]
            session_id = await ask(socket, message, message_type)
            # A second turn, so a session has more than one message.
            await ask(socket, "And after that?", "general", session_id)
            print(session_id, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
