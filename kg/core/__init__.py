"""medkg's foundation: errors, settings, cache folders, progress and the registry of named backends.

Every other part of medkg may import ``kg.core``; ``kg.core`` imports nothing else of medkg (an import-linter
contract in CI keeps it so).
"""
