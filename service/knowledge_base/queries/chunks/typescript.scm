; Definitions that become chunks (TypeScript and TSX): the JavaScript ones plus interfaces and abstract classes.
(class_declaration name: (_) @name) @definition
(abstract_class_declaration name: (_) @name) @definition
(interface_declaration name: (_) @name) @definition
(function_declaration name: (identifier) @name) @definition
(method_definition name: (_) @name) @definition
(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression)])) @definition
