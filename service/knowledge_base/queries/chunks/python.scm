; Definitions that become chunks: @definition is the whole node, @name its name.
(class_definition name: (identifier) @name) @definition
(function_definition name: (identifier) @name) @definition
