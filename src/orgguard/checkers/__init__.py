"""The checkers: one module per rule family, all run in one batched LibCST traversal."""
