"""The prefix KV cache: a tree of token segments whose KV every branch below shares.

Claude Code interleaves a main loop, subagents (same system prompt and tools, another history),
short side requests and ``count_tokens`` bursts. A flat cache keeps one entry per prompt and
copies the shared part into each, so side requests push the main session out. Here each node holds
the KV of its own token segment only: two sessions that share the system+tools prefix hold its KV
once, a side request adds a branch, and eviction takes the least recently used leaves first, so a
shared prefix outlives the branches that use it.

mlx-lm's ``LRUPromptCache`` (a trie of whole caches) does not share storage between entries, hence
this tree. Two kinds of model caches are handled:

- *Sliceable* (every layer a ``KVCache``): a prefix of any length is cut from the tree, and the
  tree's segments are concatenated into the layer caches handed to the batch generator.
- *Snapshots* (sliding-window ``RotatingKVCache``, linear-attention or state-space ``ArraysCache``
  layers, which cannot be cut back to an earlier token): whole caches are kept at the boundaries
  where the worker took them (the end of the system prompt and tools, the end of a sequence), and
  a prompt reuses the longest boundary that is a prefix of it.

Owned by the engine's worker thread; never touched from another thread.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
from mlx.utils import tree_map
from mlx_lm.models.cache import KVCache


def sliceable(cache: Sequence[Any]) -> bool:
    """Whether every layer's KV can be cut at any token (plain attention caches)."""
    return bool(cache) and all(type(c) is KVCache for c in cache)


def snapshot(cache: Sequence[Any]) -> list[Any]:
    """A copy of a cache still being written, which its later writes do not change."""
    if sliceable(cache):
        copies: list[Any] = []
        for layer in cache:
            kept = KVCache()
            kept.keys = mx.contiguous(layer.keys[..., : layer.offset, :])
            kept.values = mx.contiguous(layer.values[..., : layer.offset, :])
            kept.offset = layer.offset
            copies.append(kept)
        return copies
    return copy.deepcopy(list(cache))


Stored = tuple[mx.array, ...]
"""A segment's keys or values for one layer: the array, or MLX's ``(codes, scales, biases)``."""


def _cut(stored: Stored, start: int, end: int) -> Stored:
    # A copy, not a view: a view keeps the whole source buffer (the batch's KV) alive.
    return tuple(mx.contiguous(part[..., start:end, :]) for part in stored)


@dataclass(frozen=True, slots=True)
class KVCodec:
    """How the tree holds KV: as computed, or quantized (``engine.kv-bits``).

    mlx-lm's batch generator has no quantized KV, so the running batch keeps its KV as computed;
    what the tree keeps for later (most of a long session's memory) is quantized, and a reused
    prefix is dequantized when it is handed back.
    """

    bits: int = 0
    group_size: int = 64

    def pack(self, array: mx.array) -> Stored:
        """``array`` as the tree keeps it."""
        if self.bits and array.shape[-1] % self.group_size == 0:
            codes, scales, biases = mx.quantize(array, group_size=self.group_size, bits=self.bits)
            return (codes, scales, biases)
        return (mx.contiguous(array),)

    def unpack(self, stored: Stored) -> mx.array:
        """The KV ``stored`` holds."""
        if len(stored) == 1:
            return stored[0]
        codes, scales, biases = stored
        return mx.dequantize(codes, scales, biases, group_size=self.group_size, bits=self.bits)


@dataclass(eq=False, slots=True)
class _Node:
    tokens: list[int]
    """This segment's tokens."""
    start: int
    """Tokens before the segment (its depth)."""
    parent: _Node | None
    children: dict[int, _Node] = field(default_factory=dict)
    keys: list[Stored] = field(default_factory=list)
    """Per layer, the segment's keys (sliceable caches)."""
    values: list[Stored] = field(default_factory=list)
    snapshot: list[Any] | None = None
    """A whole cache holding exactly the tokens up to this node's end (snapshot caches)."""
    used: int = 0
    """When last read or written (a logical clock)."""

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)

    @property
    def nbytes(self) -> int:
        held = sum(int(a.nbytes) for s in itertools.chain(self.keys, self.values) for a in s)
        if self.snapshot is not None:
            held += sum(int(c.nbytes) for c in self.snapshot)
        return held

    def split(self, at: int) -> _Node:
        """Cut this node after ``at`` of its tokens; returns the new upper part."""
        upper = _Node(self.tokens[:at], self.start, self.parent, used=self.used)
        upper.keys = [_cut(k, 0, at) for k in self.keys]
        upper.values = [_cut(v, 0, at) for v in self.values]
        self.keys = [_cut(k, at, k[0].shape[-2]) for k in self.keys]
        self.values = [_cut(v, at, v[0].shape[-2]) for v in self.values]
        mx.eval(upper.keys, upper.values, self.keys, self.values)
        assert self.parent is not None, "the root is never split"
        self.parent.children[self.tokens[0]] = upper
        self.tokens = self.tokens[at:]
        self.start += at
        self.parent = upper
        upper.children[self.tokens[0]] = self
        return upper


@dataclass(frozen=True, slots=True)
class Match:
    """Where a prompt leaves the tree."""

    path: list[tuple[_Node, int]]
    """Nodes along the prompt, each with how many of its tokens match."""

    @property
    def length(self) -> int:
        """Tokens matched."""
        if not self.path:
            return 0
        node, matched = self.path[-1]
        return node.start + matched


class PrefixCache:
    """A byte-budgeted tree of prompt prefixes (see the module docstring)."""

    def __init__(self, *, max_bytes: int, max_entries: int, codec: KVCodec | None = None) -> None:
        self.codec = codec or KVCodec()
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.enabled = max_bytes > 0 and max_entries > 0
        self._root = _Node([], 0, None)
        self._clock = itertools.count(1)
        self._bytes = 0
        self.lookups = 0
        self.hits = 0

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return self._bytes

    def __len__(self) -> int:
        """Leaves: the distinct sequences the tree ends in."""
        return sum(1 for n in self._nodes() if not n.children)

    # --- reading ----------------------------------------------------------------------------

    def match(self, tokens: Sequence[int]) -> Match:
        """How far ``tokens`` follows the tree."""
        path: list[tuple[_Node, int]] = []
        node, pos = self._root, 0
        while pos < len(tokens):
            child = node.children.get(tokens[pos])
            if child is None:
                break
            matched = 0
            for a, b in zip(child.tokens, tokens[pos:], strict=False):
                if a != b:
                    break
                matched += 1
            path.append((child, matched))
            pos += matched
            if matched < len(child.tokens):
                break
            node = child
        return Match(path)

    def fetch(self, tokens: Sequence[int]) -> tuple[list[Any] | None, int]:
        """A fresh cache for the longest cached prefix of ``tokens``, and its length.

        Never all of ``tokens``: the batch generator needs one prompt token to compute logits
        from.
        """
        if not self.enabled or not tokens:
            return None, 0
        self.lookups += 1
        match = self.match(tokens)
        snapshot, length = self._usable(match, len(tokens))
        if length == 0:
            return None, 0
        self.hits += 1
        now = next(self._clock)
        for node, _ in match.path:
            node.used = now
        if snapshot is not None:
            return copy.deepcopy(snapshot), length
        return self._assemble(match, length), length

    def _usable(self, match: Match, wanted: int) -> tuple[list[Any] | None, int]:
        """The snapshot to copy (None: cut the segments) and the tokens it serves."""
        limit = min(match.length, wanted - 1)
        if match.path and match.path[0][0].snapshot is None and match.path[0][0].keys:
            return None, max(0, limit)
        best: tuple[list[Any] | None, int] = (None, 0)
        for node, matched in match.path:
            if node.snapshot is not None and matched == len(node.tokens) and node.end <= limit:
                best = (node.snapshot, node.end)
        return best

    def _assemble(self, match: Match, length: int) -> list[Any]:
        layers = len(match.path[0][0].keys)
        keys: list[list[mx.array]] = [[] for _ in range(layers)]
        values: list[list[mx.array]] = [[] for _ in range(layers)]
        unpack = self.codec.unpack
        for node, _ in match.path:
            take = min(len(node.tokens), length - node.start)
            if take <= 0:
                break
            for i in range(layers):
                keys[i].append(unpack(tuple(p[..., :take, :] for p in node.keys[i])))
                values[i].append(unpack(tuple(p[..., :take, :] for p in node.values[i])))
        cache: list[Any] = []
        for k, v in zip(keys, values, strict=True):
            layer = KVCache()
            layer.keys = mx.concatenate(k, axis=2)
            layer.values = mx.concatenate(v, axis=2)
            layer.offset = length
            cache.append(layer)
        return cache

    # --- writing ----------------------------------------------------------------------------

    def store(self, tokens: Sequence[int], cache: list[Any]) -> None:
        """Keep ``cache``, which holds exactly ``tokens``."""
        if not self.enabled or not tokens:
            return
        tokens = list(tokens)
        # Extracted caches are lazy copies of the batch's KV buffers: evaluated first, so that
        # what is kept holds its own bytes.
        mx.eval([c.state for c in cache])
        if sliceable(cache):
            self._store_segments(tokens, cache)
        else:
            self._store_snapshot(tokens, cache)
        evicted = self._evict()
        if evicted:
            mx.clear_cache()  # give the evicted buffers back

    def _boundary(self, tokens: list[int]) -> tuple[_Node, int]:
        """The node ending exactly where the tree's match of ``tokens`` ends (split if needed)."""
        match = self.match(tokens)
        if not match.path:
            return self._root, 0
        node, matched = match.path[-1]
        if matched < len(node.tokens):
            node = node.split(matched)
        return node, node.end

    def _store_segments(self, tokens: list[int], cache: list[Any]) -> None:
        if self._root.children and next(iter(self._root.children.values())).snapshot is not None:
            return  # a model serves one kind of cache; mixed kinds cannot share a tree
        node, end = self._boundary(tokens)
        now = next(self._clock)
        if end < len(tokens):
            leaf = _Node(tokens[end:], end, node, used=now)
            pack = self.codec.pack
            leaf.keys = [pack(c.keys[..., end : len(tokens), :]) for c in cache]
            leaf.values = [pack(c.values[..., end : len(tokens), :]) for c in cache]
            mx.eval(leaf.keys, leaf.values)
            node.children[tokens[end]] = leaf
            self._bytes += leaf.nbytes
            node = leaf
        self._touch(node, now)

    def _store_snapshot(self, tokens: list[int], cache: list[Any]) -> None:
        for layer in cache:
            # Own copies: an extracted cache's arrays are views of the whole batch's buffers.
            layer.state = tree_map(
                lambda x: mx.contiguous(x) if isinstance(x, mx.array) else x, layer.state
            )
        mx.eval([c.state for c in cache])
        node, end = self._boundary(tokens)
        now = next(self._clock)
        if end < len(tokens):
            leaf = _Node(tokens[end:], end, node, used=now)
            node.children[tokens[end]] = leaf
            node = leaf
        if node.snapshot is not None:
            self._bytes -= node.nbytes
        node.snapshot = cache
        self._bytes += node.nbytes
        self._touch(node, now)

    def _touch(self, node: _Node | None, now: int) -> None:
        while node is not None:
            node.used = now
            node = node.parent

    def _nodes(self) -> list[_Node]:
        out: list[_Node] = []
        stack = list(self._root.children.values())
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(node.children.values())
        return out

    def _evict(self) -> bool:
        """Drop least recently used leaves until the budget holds; whether any went."""
        evicted = False
        while True:
            leaves = [n for n in self._nodes() if not n.children]
            if not leaves or (self._bytes <= self.max_bytes and len(leaves) <= self.max_entries):
                break
            oldest = min(leaves, key=lambda n: n.used)
            self._remove(oldest)
            evicted = True
        return evicted

    def _remove(self, node: _Node) -> None:
        parent = node.parent
        assert parent is not None
        del parent.children[node.tokens[0]]
        self._bytes -= node.nbytes
        # A snapshot-tree inner node without a snapshot and now without children is dead weight.
        dead = not parent.children and not parent.keys and parent.snapshot is None
        if parent is not self._root and dead:
            self._remove(parent)
