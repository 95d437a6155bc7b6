"""The code knowledge base: chunking along the syntax tree (more to come: sources, documents, index, retrieval)."""
