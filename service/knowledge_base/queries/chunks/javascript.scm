; Definitions that become chunks (JavaScript, TypeScript, TSX): @definition is the whole node, @name its name.
(class_declaration name: (_) @name) @definition
(function_declaration name: (identifier) @name) @definition
(generator_function_declaration name: (identifier) @name) @definition
(method_definition name: (_) @name) @definition
(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression)])) @definition
