-- The TransferMode of the number's Twilio Elastic SIP trunk as Dial last read it
-- (`disable-all`, `enable-all` or `sip-only`): read by the assignment pre-check and when
-- an administrator turns transfers on, so the call page and the API can say why a
-- transfer would be refused instead of sending a REFER that Twilio refuses. NULL: not
-- read (a number on another SIP carrier, or not assigned since this column came).
ALTER TABLE phone_numbers ADD COLUMN twilio_transfer_mode TEXT;
