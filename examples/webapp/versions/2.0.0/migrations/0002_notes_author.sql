-- 2.0.0: notes get an author; rows written before 2.0.0 become 'unknown'.
ALTER TABLE notes ADD COLUMN author TEXT;
UPDATE notes SET author = 'unknown' WHERE author IS NULL;
