-- Default roles may use file boards and other map objects (interact), as everyone could in the
-- original; worlds made before this get it turned on.
UPDATE roles SET interact = {true} WHERE is_default = {true};
