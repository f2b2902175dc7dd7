-- An owner's assistant names are unique whatever their case: "Reception" and "reception"
-- could not be told apart in Dial's pickers (issue 18). The service also compares names
-- with Unicode case folding before writing; this index is the database's guarantee.
--
-- Existing names that differ only by case keep the oldest assistant's name; each of the
-- others gets its id appended (unique, so the index below can always be built), which an
-- owner sees and can change to a better name.
UPDATE assistants SET name = name || ' (' || id || ')'
WHERE EXISTS (
    SELECT 1 FROM assistants older
    WHERE older.owner_id = assistants.owner_id
      AND LOWER(older.name) = LOWER(assistants.name)
      AND (older.created_at < assistants.created_at
           OR (older.created_at = assistants.created_at AND older.id < assistants.id))
);
DROP INDEX assistants_owner_name;
CREATE UNIQUE INDEX assistants_owner_name ON assistants (owner_id, LOWER(name));
