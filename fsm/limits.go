package fsm

// Zaqar's limits and defaults (ZAQAR-API.md §2). Both the FSM (resolving
// defaults at apply time) and httpapi (validation) use them.
const (
	DefaultMessageTTL      = 3600
	DefaultMessageDelay    = 0
	DefaultClaimTTL        = 300
	DefaultClaimGrace      = 60
	DefaultSubscriptionTTL = 3600
	MaxQueuesPerPage       = 20
	MaxMessagesPerPage     = 20
	MaxSubscriptionsPage   = 20
	MaxMessagesPerClaimPop = 20
	MaxQueueMetadata       = 65536
	MaxMessagesPostSize    = 262144
	MinMessageTTL          = 60
	MaxMessageTTL          = 1209600
	MaxMessageDelay        = 900
	MinClaimTTL            = 60
	MaxClaimTTL            = 43200
	MinClaimGrace          = 60
	MaxClaimGrace          = 43200
	MinSubscriptionTTL     = 60
	MaxNameLength          = 64
	MaxProjectLength       = 256
	DefaultPageSize        = 10
)

// Reserved queue metadata keys (ZAQAR-API.md §3).
const (
	KeyMaxMessagesPostSize  = "_max_messages_post_size"
	KeyDefaultMessageTTL    = "_default_message_ttl"
	KeyDefaultMessageDelay  = "_default_message_delay"
	KeyDeadLetterQueue      = "_dead_letter_queue"
	KeyDeadLetterQueueTTL   = "_dead_letter_queue_messages_ttl"
	KeyMaxClaimCount        = "_max_claim_count"
	KeyEnableEncryptMessage = "_enable_encrypt_messages"
	KeyRetryPolicy          = "_retry_policy"
)
