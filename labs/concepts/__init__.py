"""Chapter 2's code: the core concepts of large models, each in a small runnable form.

- :mod:`labs.concepts.self_supervised`: labels made from the data itself
  (next-token and masked-token pairs) and count models that learn from them.
- :mod:`labs.concepts.fusion`: early and late fusion of two views of the same example.
- :mod:`labs.concepts.knowledge_graph`: triples, pattern queries and a drawing.
- :mod:`labs.concepts.transfer`: features learned on one task reused on another.
- :mod:`labs.concepts.concept_map`: the map of how the concepts connect.
"""
