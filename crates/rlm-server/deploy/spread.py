"""Spreads episodes across `rlm serve` replicas with OpenEnv's own client: each episode is one
WebSocket session, so it stays on the replica it started on (what a load balancer's sticky
WebSocket routing gives a trainer). Usage: spread.py URL [URL ...]"""

import concurrent.futures
import json
import sys
import urllib.request

from openenv.core.generic_client import GenericEnvClient

replicas = sys.argv[1:]


def episode(i):
    url = replicas[i % len(replicas)]  # round robin; any balancer with sticky sessions works
    with GenericEnvClient(base_url=url).sync() as env:
        env.reset(context=f"document {i}: the answer is {i * 7}", expected_answer=str(i * 7))
        env.step({"code": "import re\nn = re.search(r'answer is (\\d+)', context).group(1)"})
        result = env.step({"code": "FINAL(n)"})
        return url, result.reward


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    results = list(pool.map(episode, range(16)))
for url in replicas:
    rewards = [r for u, r in results if u == url]
    with urllib.request.urlopen(url + "/metrics") as resp:
        metrics = json.load(resp)
    print(f"{url}: {len(rewards)} episodes, mean reward {sum(rewards) / len(rewards):.2f}, "
          f"{metrics['steps']} steps served")
