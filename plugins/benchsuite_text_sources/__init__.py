"""Text embeddings by name from the libraries that ship them (``st:``, ``gensim:``, ``vectors:``, ``hf:``, ``clip:``)."""
